"""``ChatSession``: the conversation as the user sees it, without Qt (napari's ``ViewerModel`` behind ``QtViewer``).

The session owns the open conversation, the pending turns, the attachments, the model state and every history write.
Intents are plain method calls (:meth:`send`, :meth:`stop`, :meth:`attach`, :meth:`open_conversation` ...); what
changed goes to the subscribers as :mod:`~anygpt_desktop.session.events`. The engine sits behind an
:class:`~anygpt_desktop.session.engine_port.EnginePort` whose updates arrive in :meth:`on_engine_update`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from anygpt_desktop.audio.files import save_wav
from anygpt_desktop.engine import events as engine_events
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.session import engine_port as up
from anygpt_desktop.session import events as ev
from anygpt_desktop.session.kinds import Attachment, AttachmentKind, ModelState, OutputModality
from anygpt_desktop.storage.history import Conversation, HistoryError, HistoryStore

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SPEECH_RATE = 16000
Listener = Callable[[ev.SessionEvent], None]


def file_kind(path: Path) -> Literal["image", "audio"] | None:
    """Whether a file can be attached: an image, an audio file (music, question or voice: the user says), or not."""
    suffix = Path(path).suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "audio" if suffix in AUDIO_SUFFIXES else None


@dataclass
class _Pending:
    """One sent turn until its pair is stored."""

    request: TurnRequest
    user_media: list[tuple[AttachmentKind, Path]]
    transcript: str = ""
    reply: str = ""
    images: list[Path] = field(default_factory=list)
    music: list[Path] = field(default_factory=list)
    speech_chunks: list[np.ndarray] = field(default_factory=list)
    speech_rate: int = SPEECH_RATE
    speech_path: Path | None = None
    speech_ended: bool = False
    started: float = field(default_factory=time.perf_counter)
    first_audio: float | None = None


class ChatSession:
    """One window's conversation. Not thread-safe: every call (and every engine update) comes from one thread.

    Intents: :meth:`send`, :meth:`send_speech`, :meth:`stop`, :meth:`barge_in`, :meth:`attach`, :meth:`detach`,
    :meth:`clear_attachments`, :meth:`new_conversation`, :meth:`open_conversation` / :meth:`restore_last`,
    :meth:`rename_conversation`, :meth:`delete_conversation`, :meth:`export`, :meth:`reload_models`,
    :meth:`cancel_load`, :meth:`configure`, :meth:`close`. State to read: ``model_state``, ``conversation_id``,
    ``attachments``, ``pending_turns``, ``busy``, ``tmp_dir``, :meth:`conversations`. Everything that changes is
    announced to the listeners given to :meth:`subscribe` as a :data:`~anygpt_desktop.session.events.SessionEvent`.
    """

    def __init__(self, engine: up.EnginePort, history: HistoryStore) -> None:
        self.engine = engine
        self.history = history
        self.model_state = ModelState.STARTING
        self.conversation_id: int | None = None
        self.attachments: tuple[Attachment, ...] = ()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="anygpt-desktop-"))  # recordings and pasted images (removed on close)
        self._pending: dict[int, _Pending] = {}
        self._listeners: list[Listener] = []
        self._closed = False
        engine.set_listener(self.on_engine_update)

    # -- subscribers -----------------------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every event from now on (the first one also hears that a damaged history was set
        aside, if it was: that happened before anyone listened)."""
        self._listeners.append(listener)
        recovery = getattr(self.history, "recovery_message", "")
        if recovery and len(self._listeners) == 1:
            listener(ev.StatusMessage(recovery, error=True))

    def _emit(self, event: ev.SessionEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    @property
    def pending_turns(self) -> tuple[int, ...]:
        """The ids of the turns sent and not finished, oldest first."""
        return tuple(self._pending)

    @property
    def busy(self) -> bool:
        """Turns are sent and not finished."""
        return bool(self._pending)

    # -- models ----------------------------------------------------------------------------------------------------

    def configure(self, values: dict[str, Any]) -> None:
        """New settings for the engine (decoding, voice, folders: from the next turn; device: after a reload)."""
        self.engine.configure(values)

    def reload_models(self) -> bool:
        """(Re)load the models; False while they are loading already."""
        if self.model_state is ModelState.LOADING:
            return False
        self._set_model_state(ev.ModelStateChanged(ModelState.LOADING))
        self.engine.load()
        return True

    def cancel_load(self) -> None:
        self.engine.cancel_load()

    def _set_model_state(self, event: ev.ModelStateChanged) -> None:
        self.model_state = event.state
        self._emit(event)

    # -- sending ---------------------------------------------------------------------------------------------------

    def send(self, text: str, output_modality: OutputModality | None = None) -> int | None:
        """Send typed text with the attachments; the turn id, or None when there is nothing to send or no model."""
        text = text.strip()
        if not text and not self.attachments:
            return None
        return self._submit(TurnRequest(text=text, output_modality=output_modality))

    def send_speech(self, audio: np.ndarray, text: str = "", output_modality: OutputModality | None = None) -> int | None:
        """Send a recorded utterance (16 kHz float32 mono) with any typed text and the attachments."""
        request = TurnRequest(text=text.strip(), speech=np.asarray(audio, np.float32), output_modality=output_modality)
        return self._submit(request)

    def _submit(self, request: TurnRequest) -> int | None:
        if self.model_state is not ModelState.READY:
            self._emit(ev.StatusMessage("The models are not loaded yet: your message is kept, send it once they are ready.",
                                        6.0, action="models" if self.model_state is ModelState.FAILED else ""))
            return None
        kinds = [(a.kind, a.path) for a in self.attachments]
        request.images = [p for k, p in kinds if k is AttachmentKind.IMAGE]
        request.music = [p for k, p in kinds if k is AttachmentKind.MUSIC]
        request.speech_files = [p for k, p in kinds if k is AttachmentKind.SPEECH]
        voices = [p for k, p in kinds if k is AttachmentKind.VOICE]
        request.voice_prompt = voices[-1] if voices else None
        if self.conversation_id is None:
            spoken = request.speech is not None or request.speech_files
            first_line = request.text.splitlines()[0].strip() if request.text else ""
            title = first_line[:48] or ("Voice conversation" if spoken else "New conversation")
            try:
                self.conversation_id = self.history.create(title).id
            except HistoryError as exc:
                self._emit(ev.StatusMessage(f"The conversation could not be stored: {exc}", error=True))
            else:
                self._emit(ev.CurrentConversationChanged(self.conversation_id))
                self._emit(ev.ConversationListChanged())
        media = list(kinds)
        if request.speech is not None:
            said = save_wav(self.tmp_dir / f"said_{time.time_ns()}.wav", request.speech, SPEECH_RATE)
            media.append((AttachmentKind.SPEECH, said))
        self.clear_attachments()
        tid = self.engine.submit(request)
        self._pending[tid] = _Pending(request, media)
        listening = request.speech is not None or bool(request.speech_files)
        self._emit(ev.UserTurnAdded(tid, request.text, tuple(media), listening))
        if len(self._pending) == 1:
            self._emit(ev.BusyChanged(True))
        return tid

    def stop(self) -> None:
        """Esc / Stop: silence and stop generating at once (each turn is kept as far as it got)."""
        self._emit(ev.StopRequested())
        self.engine.cancel()

    def barge_in(self, playing: bool) -> bool:
        """Hands-free: the user started speaking; stop the assistant if it is talking (``playing``) or busy."""
        if playing or self.busy:
            self.stop()
            return True
        return False

    # -- attachments -----------------------------------------------------------------------------------------------

    def attach(self, path: Path, kind: AttachmentKind) -> None:
        self.attachments = (*self.attachments, Attachment(Path(path), AttachmentKind(kind)))
        self._emit(ev.AttachmentsChanged(self.attachments))

    def detach(self, path: Path) -> None:
        """Remove every attachment of ``path``."""
        self.attachments = tuple(a for a in self.attachments if a.path != Path(path))
        self._emit(ev.AttachmentsChanged(self.attachments))

    def clear_attachments(self) -> None:
        self.attachments = ()
        self._emit(ev.AttachmentsChanged(self.attachments))

    # -- conversations ---------------------------------------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        return self.history.conversations()

    def open_conversation(self, conversation_id: int) -> bool:
        """Show a stored conversation and restore the model's memory of it; False if it cannot be read."""
        if conversation_id == self.conversation_id:
            return True
        try:
            turns = self.history.turns(conversation_id)
        except HistoryError as exc:
            self._emit(ev.BannerChanged(str(exc)))
            return False
        self._drop_pending()
        self.conversation_id = conversation_id
        self._emit(ev.ConversationShown(conversation_id, tuple(turns)))
        self._emit(ev.CurrentConversationChanged(conversation_id))
        if self.model_state is ModelState.READY:
            self._restore_engine()
        return True

    def restore_last(self, conversation_id: int) -> bool:
        """Reopen the conversation that was open last time, if it still exists."""
        if conversation_id and any(c.id == conversation_id for c in self.history.conversations()):
            return self.open_conversation(conversation_id)
        return False

    def new_conversation(self) -> None:
        self._drop_pending()
        self.conversation_id = None
        self._emit(ev.ConversationShown(None, ()))
        self._emit(ev.CurrentConversationChanged(None))
        self.engine.clear()

    def rename_conversation(self, conversation_id: int, title: str) -> bool:
        if not title.strip():
            return False
        try:
            self.history.rename(conversation_id, title)
        except HistoryError as exc:
            self._emit(ev.StatusMessage(str(exc), error=True))
            return False
        self._emit(ev.ConversationListChanged())
        return True

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation and its files (the open one: a new conversation starts)."""
        try:
            self.history.delete(conversation_id)
        except HistoryError as exc:
            self._emit(ev.StatusMessage(str(exc), error=True))
            return
        if conversation_id == self.conversation_id:
            self.new_conversation()
        self._emit(ev.ConversationListChanged())

    def export(self, fmt: Literal["md", "html"], folder: Path) -> Path:
        """Export the open conversation; raises ``HistoryError`` (also when nothing is open)."""
        if self.conversation_id is None:
            raise HistoryError("Nothing to export yet.")
        fn = self.history.export_markdown if fmt == "md" else self.history.export_html
        return fn(self.conversation_id, Path(folder))

    def _drop_pending(self) -> None:
        """Stop what runs and forget its turns (their late events are ignored)."""
        self.stop()
        if self._pending:
            self._pending.clear()
            self._emit(ev.BusyChanged(False))

    def _restore_engine(self) -> None:
        assert self.conversation_id is not None
        try:
            state = self.history.engine_state(self.conversation_id)
        except HistoryError as exc:
            self._emit(ev.BannerChanged(str(exc)))
            return
        self.engine.restore(state)

    # -- engine updates --------------------------------------------------------------------------------------------

    def on_engine_update(self, update: up.EngineUpdate) -> None:
        """Everything the engine reports (the port calls this in the session's thread)."""
        if self._closed:
            return
        if isinstance(update, up.TurnEvent):
            self._on_turn_event(update.turn_id, update.event)
        elif isinstance(update, up.TurnStarted):
            p = self._pending.get(update.turn_id)
            if p is not None:
                p.started = time.perf_counter()
                self._emit(ev.TurnStarted(update.turn_id))
        elif isinstance(update, up.LoadProgress):
            self._emit(ev.LoadProgressed(update.fraction, update.message))
        elif isinstance(update, up.DeviceKnown):
            self._emit(ev.DeviceChanged(update.device, update.dtype))
        elif isinstance(update, up.Loaded):
            self._set_model_state(ev.ModelStateChanged(ModelState.READY, seconds=update.seconds))
            self._emit(ev.BannerChanged(""))
            if self.conversation_id is not None:
                self._restore_engine()
        elif isinstance(update, up.LoadFailed):
            self._set_model_state(ev.ModelStateChanged(ModelState.FAILED, reason=update.reason, cancelled=update.cancelled))
        elif isinstance(update, up.HistorySnapshot):
            self._save_engine_state(update.data)
        elif isinstance(update, up.HistoryRestored):
            if not update.ok:
                self._emit(ev.BannerChanged(update.message))

    def _on_turn_event(self, tid: int, e: engine_events.Event) -> None:
        p = self._pending.get(tid)
        if p is None:
            return  # a turn of a conversation that was left
        if isinstance(e, engine_events.TextDelta):
            p.reply += e.text
            self._emit(ev.ReplyTextUpdated(tid, e.text))
        elif isinstance(e, engine_events.TranscriptDelta):
            p.transcript += e.text
            self._emit(ev.TranscriptUpdated(tid, e.text))
        elif isinstance(e, engine_events.SpeechChunk):
            first = p.first_audio is None
            if first:
                p.first_audio = time.perf_counter() - p.started
            p.speech_chunks.append(np.asarray(e.audio, np.float32))
            p.speech_rate = e.sample_rate
            self._emit(ev.SpeechChunkReady(tid, e.audio, e.sample_rate, e.final, first))
        elif isinstance(e, engine_events.SpeechReady):
            p.speech_path = Path(e.path)
            self._end_speech(tid, p)
        elif isinstance(e, engine_events.ImageReady):
            p.images.append(Path(e.path))
            self._emit(ev.ImageAdded(tid, Path(e.path)))
        elif isinstance(e, engine_events.MusicReady):
            p.music.append(Path(e.path))
            self._emit(ev.MusicAdded(tid, Path(e.path), e.seconds))
        elif isinstance(e, engine_events.Notice):
            self._emit(ev.StatusMessage(e.message[:1].upper() + e.message[1:], 8.0))  # a sentence of its own
        elif isinstance(e, engine_events.TurnDone):
            timings = dict(e.timings)
            if p.first_audio is not None:
                timings.setdefault("first_audio", p.first_audio)
            p.reply = p.reply or e.reply_text
            p.transcript = e.transcript or p.transcript
            self._finish(tid, p, timings, failed=False, cancelled=False, reason="")
        elif isinstance(e, engine_events.TurnFailed):
            if not e.cancelled:
                self._emit(ev.StatusMessage(f"The reply failed: {e.reason}", error=True,
                                            action="restart_engine" if e.engine_lost else ""))
            self._finish(tid, p, {}, failed=True, cancelled=e.cancelled, reason=e.reason, engine_lost=e.engine_lost)

    def _end_speech(self, tid: int, p: _Pending) -> None:
        if not p.speech_ended and p.speech_chunks:
            p.speech_ended = True
            self._emit(ev.SpeechEnded(tid))

    def _finish(self, tid: int, p: _Pending, timings: dict[str, float], *, failed: bool, cancelled: bool, reason: str,
                engine_lost: bool = False) -> None:
        self._end_speech(tid, p)
        del self._pending[tid]
        seconds = sum(len(c) for c in p.speech_chunks) / p.speech_rate if p.speech_chunks else 0.0
        if p.speech_chunks and p.speech_path is None:
            p.speech_path = save_wav(self.tmp_dir / f"reply-{tid}.wav", np.concatenate(p.speech_chunks), p.speech_rate)
        self._emit(ev.TurnEnded(tid, p.reply, p.transcript, timings, p.speech_path, seconds, failed, cancelled, reason,
                                engine_lost))
        if not self._pending:
            self._emit(ev.BusyChanged(False))
        self._store(p, timings, interrupted=failed)

    def _store(self, p: _Pending, timings: dict[str, float], interrupted: bool) -> None:
        if self.conversation_id is None:
            return
        media: list[tuple[str, Path]] = [("image", i) for i in p.images] + [("music", m) for m in p.music]
        if p.speech_path is not None:
            media.append(("speech", p.speech_path))
        try:
            user_media = [(k.value, path) for k, path in p.user_media]
            self.history.append_turn(self.conversation_id, "user", p.request.text, transcript=p.transcript, media=user_media)
            self.history.append_turn(
                self.conversation_id, "assistant", p.reply, media=media, timings=timings, interrupted=interrupted)
        except HistoryError as exc:
            self._emit(ev.StatusMessage(f"This turn could not be saved: {exc}", error=True))
            return
        self._emit(ev.ConversationListChanged())
        self._emit(ev.TurnStored(self.conversation_id))

    def _save_engine_state(self, data: dict[str, Any]) -> None:
        if self.conversation_id is None or not isinstance(data, dict):
            return
        try:
            self.history.save_engine_state(self.conversation_id, data)
        except HistoryError as exc:
            logger.warning("engine state not saved: %s", exc)

    # -- closing ---------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the engine and remove the temporary folder (stored turns keep their own copies)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self.engine.shutdown()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
