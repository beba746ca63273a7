"""The banner above the conversation: what keeps the assistant from answering, in the user's terms, with buttons that
fix it (download the models, try the demo, choose a folder) instead of file paths and internal reasons."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

MISSING_HINTS = ("config.json missing", "no language model", "not found", "missing")


def models_missing(reason: str) -> bool:
    return any(h in reason.lower() for h in MISSING_HINTS)


def banner_text(reason: str, cancelled: bool, server: str = "") -> str:
    """The banner's sentence for a failed load (the technical reason goes into the tooltip); ``server``: the
    ``host:port`` of the engine server the load tried."""
    if server and not cancelled:
        return (f"The AnyGPT server {server} could not be used: {reason}. Check its address and token file in "
                "Settings › Engine, or load again when the server is up.")
    if cancelled:
        return "Loading the models was cancelled. Load them again when you are ready, or try the demo."
    if models_missing(reason):
        return ("AnyGPT needs its models to answer, and they are not on this computer yet. Download them (about 30 GB), "
                "choose the folder that holds them, use your team's AnyGPT server, or try the demo with tiny random "
                "models first.")
    return ("The models could not be loaded. Check them in the model manager (Verify), choose another folder, or try "
            "the demo.")


class ModelsBanner(QFrame):
    """Hidden until the models are missing or failed; ``show_text`` shows a plain message without the model buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setAccessibleName("Models banner")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        self.label = QLabel()
        self.label.setObjectName("banner_text")
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Banner message")
        lay.addWidget(self.label)
        self.buttons = QWidget()
        row = QHBoxLayout(self.buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.download_button = QPushButton("Download models…")
        self.demo_button = QPushButton("Try the demo")
        self.folder_button = QPushButton("Choose folder…")
        self.reload_button = QPushButton("Load again")
        self.server_button = QPushButton("Use a server…")
        for b, name in ((self.download_button, "Download the models in the model manager"),
                        (self.demo_button, "Try the app with tiny random demo models"),
                        (self.folder_button, "Choose the folder that holds the models"),
                        (self.server_button, "Use a team's AnyGPT server (Settings › Engine)"),
                        (self.reload_button, "Load the models again")):
            b.setAccessibleName(name)
            b.setToolTip(name)
            row.addWidget(b)
        row.addStretch(1)
        lay.addWidget(self.buttons)
        self.setVisible(False)

    def focus_widgets(self) -> list[QWidget]:
        return [self.download_button, self.demo_button, self.folder_button, self.server_button, self.reload_button]

    def text(self) -> str:
        return self.label.text()

    def show_load_failure(self, reason: str, cancelled: bool, demo: bool, server: str = "") -> None:
        """A failed load; ``server``: the engine server it tried (then the local models' buttons are not shown)."""
        self.label.setText(banner_text(reason, cancelled, server))
        self.label.setToolTip(f"Details: {reason}" if reason else "")
        self.demo_button.setVisible(not demo)
        for b in (self.download_button, self.folder_button):
            b.setVisible(not server)
        self.server_button.setText("Settings › Engine…" if server else "Use a server…")
        self.buttons.setVisible(True)
        self.setVisible(True)

    def show_text(self, text: str) -> None:
        """A message that stays until replaced; an empty text hides the banner."""
        self.label.setText(text)
        self.label.setToolTip("")
        self.buttons.setVisible(False)
        self.setVisible(bool(text))
