"""Rendering a stored turn (from the history) into the conversation view."""

from __future__ import annotations

from anygpt_desktop.app.conversation import AudioRow, ConversationView, TurnWidget
from anygpt_desktop.storage.history import Turn


def media_label(kind: str, role: str) -> str:
    """How an audio item of a turn is named ("Recording" for the user's spoken question, "Spoken" for a reply)."""
    return {"music": "Music", "speech": "Spoken" if role == "assistant" else "Recording", "voice": "Reply voice"}[kind]


def add_stored_turn(view: ConversationView, turn: Turn) -> tuple[TurnWidget, list[AudioRow]]:
    """Show ``turn``; returns its widget and its audio rows (for the caller to connect to the player)."""
    w = view.add_turn(turn.role)
    w.set_text(turn.text)
    w.set_transcript(turn.transcript)
    if turn.interrupted:
        w.set_state("(interrupted)")
    rows = []
    for m in turn.media:
        if m.kind == "image":
            w.add_image(m.path)
        else:
            rows.append(w.add_audio(m.path, media_label(m.kind, turn.role), show_name=m.kind != "speech"))
    w.set_timings(turn.timings)
    return w, rows
