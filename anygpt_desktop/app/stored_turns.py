"""Rendering a stored turn (from the history) into the conversation view, exactly as the live turn looked."""

from __future__ import annotations

import logging
from pathlib import Path

from anygpt_desktop.app.conversation import AudioRow, ConversationView, TurnWidget
from anygpt_desktop.session.kinds import AttachmentKind
from anygpt_desktop.storage.history import Turn

logger = logging.getLogger(__name__)


def media_label(kind: str, role: str) -> str:
    """How an audio item is named, as in the live view ("Spoken question" / "Spoken reply", "Music input" / "Music")."""
    if role == "assistant":
        return {"music": "Music", "speech": "Spoken reply"}.get(kind, AttachmentKind(kind).label)
    return AttachmentKind(kind).label


def audio_seconds(path: Path) -> float:
    """The length of a stored audio file (0 when it cannot be read: the row then shows no length)."""
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except (OSError, RuntimeError) as exc:
        logger.info("no length for %s: %s", path, exc)
        return 0.0


def add_stored_turn(view: ConversationView, turn: Turn) -> tuple[TurnWidget, list[AudioRow]]:
    """Show ``turn``; returns its widget and its audio rows (for the caller to connect to the player)."""
    w = view.add_turn(turn.role)
    w.set_text(turn.text)
    w.render_markdown()
    w.set_transcript(turn.transcript)
    if turn.interrupted:
        w.set_state("(interrupted)")
    rows = []
    for m in turn.media:
        if m.kind == "image":
            w.add_image(m.path)
        else:
            seconds = audio_seconds(m.path) if turn.role == "assistant" else 0.0  # live user rows show no length
            rows.append(w.add_audio(m.path, media_label(m.kind, turn.role), seconds, show_name=turn.role == "user"))
    w.set_timings(turn.timings)
    return w, rows
