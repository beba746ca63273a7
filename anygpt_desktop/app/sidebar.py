"""The conversation list with its New / Rename / Delete buttons."""

from __future__ import annotations

import time
from typing import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from anygpt_desktop.app.widgets import button
from anygpt_desktop.storage.history import Conversation


class Sidebar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        title = QLabel("Conversations")
        title.setObjectName("turn_role")
        self.conv_list = QListWidget()
        self.conv_list.setAccessibleName("Conversation list")
        self.conv_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conv_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        title.setBuddy(self.conv_list)
        buttons = QHBoxLayout()
        self.new_button = button("New", "Start a new conversation", "new")
        self.rename_button = button("Rename", "Rename the selected conversation")
        self.delete_button = button("Delete", "Delete the selected conversation")
        for b in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(b)
        lay.addWidget(title)
        lay.addWidget(self.conv_list, 1)
        lay.addLayout(buttons)

    def show_conversations(self, conversations: Iterable[Conversation], current: int | None) -> None:
        """List ``conversations`` (newest first, as given), selecting ``current``."""
        self.conv_list.blockSignals(True)
        self.conv_list.clear()
        for conv in conversations:
            item = QListWidgetItem(conv.title)
            item.setData(Qt.ItemDataRole.UserRole, conv.id)
            item.setToolTip(f"{conv.turn_count} turns, {time.strftime('%Y-%m-%d %H:%M', time.localtime(conv.updated))}")
            self.conv_list.addItem(item)
            if conv.id == current:
                item.setSelected(True)
                self.conv_list.setCurrentItem(item)
        if current is None:
            self.conv_list.clearSelection()
        self.conv_list.blockSignals(False)

    def selected_id(self) -> int | None:
        item = self.conv_list.currentItem()
        return int(item.data(Qt.ItemDataRole.UserRole)) if item else None
