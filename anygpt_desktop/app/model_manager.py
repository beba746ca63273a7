"""The model manager: every component with its size and state; download (with progress, resumable), verify, or use an
existing folder. Store work runs in a short-lived QThread so the dialog stays responsive and can cancel."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from anygpt_desktop.app.settings import AppSettings
from anygpt_desktop.engine import model_store
from anygpt_desktop.engine.downloader import human_size as downloader_human_size
from anygpt_desktop.layout import resolve_models_dir
from anygpt_desktop.engine.model_manifest import load_manifest
from anygpt_desktop.cancel import TaskState

logger = logging.getLogger(__name__)

COLUMNS = ["Component", "Purpose", "Required", "On disk", "Download", "State"]
STATE_COL = 5


def human_size(n: int | None) -> str:
    """A size for the table: the store's formatting, with a dash for an unknown size."""
    return downloader_human_size(n or None, unknown="—")


def free_space(folder: Path) -> int | None:
    """Free bytes on the disk that holds ``folder`` (or its nearest existing parent); None if unknown."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


class StoreJob(QThread):
    """Runs ``fn(state)`` in its own thread; reports progress, the result or a readable failure."""

    sig_progress_updated = Signal(str, int, int)  # file, bytes done, total (0 = unknown)
    sig_job_finished = Signal(object)
    sig_job_failed = Signal(str, bool)  # reason, cancelled

    def __init__(self, fn: Callable[[TaskState, "StoreJob"], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.state = TaskState()

    def run(self) -> None:
        try:
            result = self._fn(self.state, self)
        except Exception as exc:  # every store error becomes a message
            cancelled = self.state.cancelled()
            self.sig_job_failed.emit("Cancelled." if cancelled else (str(exc) or type(exc).__name__), cancelled)
            return
        self.sig_job_finished.emit(result)


class ModelManagerDialog(QDialog):
    sig_models_dir_chosen = Signal(str)

    def __init__(
        self, models_dir: Path | None, settings: AppSettings, parent: QWidget | None = None, *, demo: bool = False,
    ) -> None:
        """``demo``: the folder holds the tiny random demo kit: it is shown as such and never downloaded into."""
        super().__init__(parent)
        self.demo = demo
        self.setWindowTitle("Model manager")
        self.setAccessibleName("Model manager")
        self.settings = settings
        self.models_dir = Path(models_dir) if models_dir else resolve_models_dir(setting=settings.get("models_dir") or None)
        self.job: StoreJob | None = None
        self.statuses: list[model_store.ComponentStatus] = []
        self.manifest = load_manifest()
        lay = QVBoxLayout(self)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.totals_label = QLabel()
        self.totals_label.setAccessibleName("Sizes and free space")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Model components")
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setAccessibleName("Column headings")
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (0, 2, 3, 4, 5):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Download progress")
        self.progress.setVisible(False)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Model manager message")
        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download missing")
        self.verify_button = QPushButton("Verify")
        self.folder_button = QPushButton("Use existing folder…")
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        for b, name in [
            (self.download_button, "Download the missing components"),
            (self.verify_button, "Verify the checksums of the present files"),
            (self.folder_button, "Use a folder that already holds the models"),
            (self.cancel_button, "Cancel the download or verification"),
            (self.close_button, "Close the model manager"),
        ]:
            b.setAccessibleName(name)
            buttons.addWidget(b)
        self.cancel_button.setEnabled(False)
        lay.addWidget(self.folder_label)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.totals_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)
        lay.addLayout(buttons)
        self.download_button.clicked.connect(self.download)
        self.verify_button.clicked.connect(lambda: self.refresh(verify=True))
        self.folder_button.clicked.connect(self.choose_folder)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        self.resize(900, 440)
        self.refresh()

    # -- status ----------------------------------------------------------------------------------------------------

    def refresh(self, verify: bool = False) -> None:
        """Fill the table (fast: sizes only); ``verify`` checks sha256 in a thread."""
        self.folder_label.setText(
            f"Demo folder (tiny random models, for trying the app; nothing is downloaded here): {self.models_dir}"
            if self.demo else f"Models folder: {self.models_dir}")
        if verify:
            self._start(lambda state, job: model_store.status(self.models_dir, verify=True), "Verifying…")
            return
        self._show(model_store.status(self.models_dir))

    def _show(self, statuses: list[model_store.ComponentStatus]) -> None:
        self.statuses = statuses
        self.table.setRowCount(len(statuses))
        to_fetch = optional = 0
        for row, st in enumerate(statuses):
            download = self.manifest.get(st.name).approx_bytes
            if not st.ok and st.required:
                to_fetch += download
            elif not st.ok:
                optional += download
            state = "demo" if self.demo else st.state.value
            values = [st.name, st.purpose, "yes" if st.required else "optional", human_size(st.bytes_on_disk),
                      human_size(download), state]
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col == STATE_COL:
                    bad = [f"{f.dest}: {f.detail or f.state.value}" for f in st.files if f.state.value != "present"]
                    item.setToolTip("\n".join(bad) or "all files present")
                self.table.setItem(row, col, item)
        on_disk = sum(st.bytes_on_disk for st in statuses)
        extra = f" (+ {human_size(optional)} optional)" if optional else ""
        self.totals_label.setText(f"On disk: {human_size(on_disk) if on_disk else '0 B'} · still to download: "
                                  f"{human_size(to_fetch)}{extra} · free space here: "
                                  f"{human_size(free_space(self.models_dir))}")
        self.download_button.setEnabled(not self.demo and self.job is None)
        missing = [s.name for s in statuses if s.required and not s.ok]
        if self.demo:
            self.message.setText("These are the demo models: choose a real models folder to download the real ones.")
        else:
            self.message.setText("All required components are present." if not missing
                                 else f"Missing or incomplete: {', '.join(missing)}.")

    # -- actions ---------------------------------------------------------------------------------------------------

    def download(self) -> None:
        if self.demo:
            return  # the demo folder holds the tiny kit: real weights never go there

        def work(state: TaskState, job: StoreJob) -> Any:
            def progress(dest: str, done: int, total: int | None) -> None:
                job.sig_progress_updated.emit(dest, done, total or 0)

            return model_store.download(self.models_dir, progress=progress, cancel=state)

        self._start(work, "Downloading…")

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with the models", str(self.models_dir))
        if folder:
            self.use_folder(Path(folder))

    def use_folder(self, folder: Path) -> None:
        self.models_dir = folder
        self.demo = False
        self.settings.set("models_dir", str(folder))
        self.sig_models_dir_chosen.emit(str(folder))
        self.refresh()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.state.cancel()

    def _start(self, fn: Callable[[TaskState, StoreJob], Any], what: str) -> None:
        if self.job is not None:
            return
        self.job = StoreJob(fn, self)
        self.job.sig_progress_updated.connect(self._on_progress)
        self.job.sig_job_finished.connect(self._on_finished)
        self.job.sig_job_failed.connect(self._on_failed)
        self.job.finished.connect(self._on_thread_done)
        self.message.setText(what)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        for b in (self.download_button, self.verify_button, self.folder_button):
            b.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.job.start()

    def _on_progress(self, dest: str, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
        self.message.setText(f"{dest}: {human_size(done)}" + (f" of {human_size(total)}" if total else ""))

    def _on_finished(self, result: object) -> None:
        if isinstance(result, list):
            self._show(result)
            bad = [f"{s.name} ({s.state.value})" for s in result if not s.ok]
            self.message.setText("Verified: every present file matches its checksum." + (
                f" Not usable: {', '.join(bad)}." if bad else ""))
        else:
            self._show(model_store.status(self.models_dir))
            n = len(getattr(result, "downloaded", []))
            self.message.setText(f"Download finished ({n} files fetched)." + " " + self.message.text())

    def _on_failed(self, reason: str, cancelled: bool) -> None:
        self._show(model_store.status(self.models_dir))
        self.message.setText(("Cancelled; what was fetched is kept and will resume. " if cancelled else f"Failed: {reason} ")
                             + self.message.text())

    def _on_thread_done(self) -> None:
        self.job = None
        self.progress.setVisible(False)
        for b in (self.verify_button, self.folder_button):
            b.setEnabled(True)
        self.download_button.setEnabled(not self.demo)
        self.cancel_button.setEnabled(False)

    def reject(self) -> None:
        self.cancel()
        if self.job is not None:
            self.job.wait(3000)
        super().reject()
