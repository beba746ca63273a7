"""Settings › Engine: where the models run, on this computer (the engine process) or on an ``anygpt-desktop serve``
server (its address and the file holding its token). The values are checked by
:func:`~anygpt_desktop.app.engines.engine_settings_problem`; a change applies at the next load of the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QVBoxLayout,
    QWidget,
)

from anygpt_desktop.app.settings import APPLIES
from anygpt_desktop.app.widgets import note as _note

INDENT = 20  # the server's fields and the notes line up under their radio button's caption


def _indented_form(*rows: tuple[str, Any, QWidget]) -> QWidget:
    """A form under a choice's caption: rows of (label with its mnemonic, field or layout, the widget it focuses)."""
    box = QWidget()
    form = QFormLayout(box)
    form.setContentsMargins(INDENT, 0, 0, 0)
    for text, field, buddy in rows:
        label = QLabel(text)
        label.setBuddy(buddy)  # a row of widgets gets no buddy by itself
        form.addRow(label, field)
    return box


class EnginePage(QWidget):
    """The Engine tab; ``override``: the command-line option that chose the engine for this session ("" if none)."""

    def __init__(self, override: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._local_engine = ""  # a local engine stored by other means ("inprocess") is kept when "this computer" stays
        self.local = QRadioButton("On this &computer (the default)")
        self.local.setAccessibleName("Run the models on this computer")
        self.remote = QRadioButton("On a se&rver (anygpt-desktop serve)")
        self.remote.setAccessibleName("Run the models on a server")
        self.group = QButtonGroup(self)
        self.group.addButton(self.local)
        self.group.addButton(self.remote)
        self.url = QLineEdit()
        self.url.setPlaceholderText("wss://gpu.example.org:8765")
        self.url.setAccessibleName("Server URL")
        self.token_file = QLineEdit()
        self.token_file.setPlaceholderText("a file whose first line is the server's token")
        self.token_file.setAccessibleName("Token file")
        self.token_button = QPushButton("Choose…")
        self.token_button.setAccessibleName("Choose the token file")
        self.token_button.clicked.connect(self._pick_token_file)
        row = QHBoxLayout()
        row.addWidget(self.token_file, 1)
        row.addWidget(self.token_button)
        self.server = _indented_form(("Server &URL:", self.url, self.url), ("&Token file:", row, self.token_file))
        self.llm_url = QLineEdit()
        self.llm_url.setPlaceholderText("empty: here · or http://gpu.example.org:8000/v1")
        self.llm_url.setAccessibleName("Language model on a vLLM server (empty: on this computer)")
        self.llm = _indented_form(("&LLM on a vLLM server:", self.llm_url, self.llm_url))
        local_note = _note("The models run here, in an engine process of their own (they need the models folder "
                           "and enough memory). With a vLLM server that runs AnyGPT-chat with the AnyGPT logits "
                           "processor (see docs/serve.md), only the speech, image and music models run here.")
        server_note = _note("A server runs the models for a team: ask its operator for the URL and the token file. "
                            "Use wss:// for a server on another computer (ws:// sends the token unencrypted).")
        for indented in (local_note, server_note):
            indented.setContentsMargins(INDENT, 0, 0, 0)  # under its choice's caption
        lay = QVBoxLayout(self)
        for w in (self.local, local_note, self.llm, self.remote, self.server, server_note):
            lay.addWidget(w)
        lay.addWidget(_note(f"A change of engine applies {APPLIES['model']}."))
        self.override_note = _note(f"This session's engine was chosen on the command line ({override}): a choice made "
                                   "here applies when the app starts without that option.")
        self.override_note.setVisible(bool(override))
        lay.addWidget(self.override_note)
        lay.addStretch(1)
        self.remote.toggled.connect(self._sync)
        self.local.setChecked(True)
        self._sync()

    def _sync(self) -> None:
        self.server.setEnabled(self.remote.isChecked())
        self.llm.setEnabled(self.local.isChecked())

    def _pick_token_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Token file of the engine server",
                                              self.token_file.text() or str(Path.home()))
        if path:
            self.token_file.setText(path)

    def load(self, values: dict[str, Any]) -> None:
        engine = values["engine"]
        self._local_engine = "" if engine == "remote" else engine
        (self.remote if engine == "remote" else self.local).setChecked(True)
        self.url.setText(values["engine_url"])
        self.token_file.setText(values["engine_token_file"])
        self.llm_url.setText(values["llm_url"])
        self._sync()

    def values(self) -> dict[str, Any]:
        """The page as settings values (the address and token file are kept when "this computer" is chosen)."""
        return {"engine": "remote" if self.remote.isChecked() else self._local_engine,
                "engine_url": self.url.text().strip(), "engine_token_file": self.token_file.text().strip(),
                "llm_url": self.llm_url.text().strip()}
