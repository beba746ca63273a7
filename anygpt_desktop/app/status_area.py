"""The status bar's permanent widgets, compact state only: model state, loading progress, device, and the engine
server's connection when the models run on a server (a turn's figures are in its reply's Timings; messages are notices
above the message box)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from anygpt_desktop.app.connection import connection_text, connection_tip, next_connection_state
from anygpt_desktop.app.gpu_status import device_text
from anygpt_desktop.app.widgets import button
from anygpt_desktop.session import events as ev
from anygpt_desktop.session.kinds import ModelState


GPU_REFRESH_MS = 2000


class StatusArea:
    """Builds the widgets into ``bar`` and shows the model state in them (the GPU memory refreshes on CUDA).
    ``server_address()``: ``host:port`` of the engine server the next load connects to, "" for this computer."""

    def __init__(self, bar: QStatusBar, owner: QObject, server_address: Callable[[], str] = str) -> None:
        self.device = ""  # where the loaded models run ("cuda:0", "cpu"), empty before loading
        self.dtype = ""
        self.gpu_timer = QTimer(owner)
        self.gpu_timer.setInterval(GPU_REFRESH_MS)
        self.gpu_timer.timeout.connect(self.update_device_label)
        self.model_label = QLabel()
        self.model_label.setAccessibleName("Model state")
        self.load_progress = QProgressBar()
        self.load_progress.setRange(0, 100)
        self.load_progress.setMaximumWidth(160)
        self.load_progress.setAccessibleName("Loading progress")
        self.cancel_load_button = button("Cancel loading", "Cancel loading the models")
        self.device_label = QLabel()
        self.device_label.setAccessibleName("Device")
        self.server_address = server_address
        self.address = ""  # the server of the current load; "" when the engine runs on this computer
        self.connection = ""
        self.server_label = QLabel()
        self.server_label.setVisible(False)
        for w in (self.server_label, self.model_label, self.load_progress, self.cancel_load_button, self.device_label):
            bar.addPermanentWidget(w)

    def focus_widgets(self) -> list[QWidget]:
        return [self.cancel_load_button]

    def show_model_state(self, state: ModelState, text: str) -> None:
        self.model_label.setText(text)
        loading = state is ModelState.LOADING
        if loading:
            self.load_progress.setValue(0)
        self.load_progress.setVisible(loading)
        self.cancel_load_button.setVisible(loading)

    def follow(self, event: ev.SessionEvent) -> None:
        """Keep the server connection's state from the session's events (a load picks the server it connects to)."""
        address = self.address
        if isinstance(event, ev.ModelStateChanged) and event.state is ModelState.LOADING:
            address = self.server_address()
        state = next_connection_state(self.connection, event)
        if (address, state) != (self.address, self.connection):
            self.address, self.connection = address, state
            self.show_connection()

    def show_connection(self) -> None:
        text, name = connection_text(self.address, self.connection)
        self.server_label.setText(text)
        self.server_label.setAccessibleName(name)
        self.server_label.setToolTip(connection_tip(self.connection))
        self.server_label.setVisible(bool(text))

    def show_progress(self, fraction: float, message: str) -> None:
        self.load_progress.setValue(int(fraction * 100))
        if message:
            self.model_label.setText(f"Loading: {message}")

    def show_device(self, device: str, dtype: str) -> None:
        self.device, self.dtype = device, dtype
        self.update_device_label()
        if device.startswith("cuda") and not self.address:  # a server's GPU is not this computer's to measure
            self.gpu_timer.start()
        else:
            self.gpu_timer.stop()

    def update_device_label(self) -> None:
        if self.device and self.address:
            self.device_label.setText(f"server's device: {self.device}" + (f" ({self.dtype})" if self.dtype else ""))
        elif self.device:
            self.device_label.setText(device_text(self.device, self.dtype))
