"""The conversation list: a search box, the conversations under date headings (Today, Yesterday, …), and the
New / Rename / Delete buttons."""

from __future__ import annotations

import time
from typing import Callable, Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from anygpt_desktop.app.widgets import button
from anygpt_desktop.storage.history import Conversation, HistoryError, HistoryStore


DAY = 86400.0


def conversation_matches(history: HistoryStore, conv: Conversation, query: str) -> bool:
    """Whether the title, a turn's text or a transcript contains ``query`` (case-insensitive)."""
    q = query.lower()
    if q in conv.title.lower():
        return True
    try:
        return any(q in t.text.lower() or q in t.transcript.lower() for t in history.turns(conv.id))
    except HistoryError:
        return False


def date_heading(when: float, now: float | None = None) -> str:
    """"Today", "Yesterday", "Previous 7 days", "Previous 30 days", or the month ("November 2026")."""
    now = time.time() if now is None else now
    today = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
    if when >= today:
        return "Today"
    if when >= today - DAY:
        return "Yesterday"
    if when >= today - 7 * DAY:
        return "Previous 7 days"
    if when >= today - 30 * DAY:
        return "Previous 30 days"
    return time.strftime("%B %Y", time.localtime(when))


class Sidebar(QWidget):
    """``matches(conversation, query)`` decides what the search shows (the window also looks into the turns)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matches: Callable[[Conversation, str], bool] = lambda c, q: q.lower() in c.title.lower()
        self._conversations: list[Conversation] = []
        self._current: int | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        title = QLabel("Conversations")
        title.setObjectName("turn_role")
        self.conv_list = QListWidget()
        self.conv_list.setAccessibleName("Conversation list")
        self.conv_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conv_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        title.setBuddy(self.conv_list)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self._fill())
        buttons = QHBoxLayout()
        self.new_button = button("New", "Start a new conversation", "new")
        self.rename_button = button("Rename", "Rename the selected conversation")
        self.delete_button = button("Delete", "Delete the selected conversation")
        for b in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(b)
        lay.addWidget(title)
        lay.addWidget(self.search)
        lay.addWidget(self.conv_list, 1)
        lay.addLayout(buttons)

    def show_conversations(self, conversations: Iterable[Conversation], current: int | None) -> None:
        """List ``conversations`` (newest first, as given) under date headings, selecting ``current``."""
        self._conversations, self._current = list(conversations), current
        self._fill()

    def _fill(self) -> None:
        query = self.search.text().strip()
        self.conv_list.blockSignals(True)
        self.conv_list.clear()
        heading = ""
        for conv in self._conversations:
            if query and not self.matches(conv, query):
                continue
            if date_heading(conv.updated) != heading:
                heading = date_heading(conv.updated)
                head = QListWidgetItem(heading)
                head.setFlags(Qt.ItemFlag.NoItemFlags)  # not selectable: a heading
                font = head.font()
                font.setBold(True)
                head.setFont(font)
                self.conv_list.addItem(head)
            item = QListWidgetItem(conv.title)
            item.setData(Qt.ItemDataRole.UserRole, conv.id)
            item.setToolTip(f"{conv.turn_count} turns, {time.strftime('%Y-%m-%d %H:%M', time.localtime(conv.updated))}")
            self.conv_list.addItem(item)
            if conv.id == self._current:
                item.setSelected(True)
                self.conv_list.setCurrentItem(item)
        if self._current is None:
            self.conv_list.clearSelection()
        self.conv_list.blockSignals(False)

    def focus_widgets(self) -> list[QWidget]:
        return [self.search, self.conv_list, self.new_button, self.rename_button, self.delete_button]

    def conversation_items(self) -> list[QListWidgetItem]:
        """The listed conversations (without the headings)."""
        items = [self.conv_list.item(i) for i in range(self.conv_list.count())]
        return [i for i in items if i.data(Qt.ItemDataRole.UserRole) is not None]

    def selected_id(self) -> int | None:
        item = self.conv_list.currentItem()
        cid = item.data(Qt.ItemDataRole.UserRole) if item else None
        return int(cid) if cid is not None else None
