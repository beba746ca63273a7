"""The chat session without Qt: conversation state, pending turns, attachments, model state and every history write.

:class:`~anygpt_desktop.session.chat.ChatSession` takes the user's intents (send, stop, attach, new conversation,
restore, barge-in, reload) and tells its subscribers what changed through typed events
(:mod:`anygpt_desktop.session.events`). It drives the engine through one small interface,
:class:`~anygpt_desktop.session.engine_port.EnginePort`, so any engine (a worker thread, a child process, a fake in
tests) plugs in underneath. The window (``anygpt_desktop.app``) only renders events and forwards input.
"""

from anygpt_desktop.session.chat import ChatSession
from anygpt_desktop.session.engine_port import EnginePort, EngineUpdate
from anygpt_desktop.session.events import SessionEvent
from anygpt_desktop.session.kinds import Attachment, AttachmentKind, ModelState, OutputModality

__all__ = [
    "Attachment",
    "AttachmentKind",
    "ChatSession",
    "EnginePort",
    "EngineUpdate",
    "ModelState",
    "OutputModality",
    "SessionEvent",
]
