"""Spoken replies while the model is still talking: units pushed from the decode loop, audio chunks polled back.

A background thread runs the streaming synthesis (SoundStorm + SpeechTokenizer decoder) over a blocking queue of
units, so the LLM keeps generating while earlier units are turned into sound.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

from anygpt_desktop.cancel import CancelToken

if TYPE_CHECKING:
    from anygpt_desktop.engine.media import MediaModels
    from anygpt_desktop.modalities.speech.streaming import StreamSettings
    from anygpt_desktop.modalities.speech.voice import VoicePrompt

logger = logging.getLogger(__name__)

_END = object()


class SpeechOutput:
    """One utterance: ``push`` units, ``poll`` finished audio, ``finish`` to flush and wait."""

    def __init__(
        self,
        media: MediaModels,
        voice: VoicePrompt | None,
        state: CancelToken,
        settings: StreamSettings | None = None,
        seed: int | None = None,
    ) -> None:
        from anygpt_desktop.modalities.speech.streaming import StreamSettings

        self._media = media
        self._voice = voice
        self._state = state
        self._settings = settings or StreamSettings()
        self._seed = seed
        self._units: "queue.Queue[object]" = queue.Queue()
        self._audio: "queue.Queue[np.ndarray]" = queue.Queue()
        self.error: BaseException | None = None
        self._closed = False  # the end marker has been consumed
        self.chunks: list[np.ndarray] = []
        self._thread = threading.Thread(target=self._run, name="speech-output", daemon=True)
        self._thread.start()

    def _unit_stream(self) -> Iterator[int]:
        while True:
            item = self._units.get()
            if item is _END:
                self._closed = True
                return
            yield item  # type: ignore[misc]

    def _run(self) -> None:
        from anygpt_desktop.modalities.speech.streaming import stream_synthesis

        try:
            if self._seed is not None:
                torch.manual_seed(self._seed)
            with torch.inference_mode():
                for chunk in stream_synthesis(
                    self._media.speechtokenizer,
                    self._media.soundstorm,
                    self._unit_stream(),
                    prompt=self._voice,
                    settings=self._settings,
                    cancel=self._state,
                ):
                    self._audio.put(np.asarray(chunk, dtype=np.float32))
        except BaseException as exc:  # reported to the turn as a notice; the turn goes on
            logger.exception("speech synthesis failed")
            self.error = exc
            while not self._closed and self._units.get() is not _END:  # drain until the producer closes
                pass
            self._closed = True

    def push(self, units: tuple[int, ...] | list[int]) -> None:
        for u in units:
            self._units.put(int(u))

    def poll(self) -> list[np.ndarray]:
        """Audio chunks finished since the last call (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._audio.get_nowait())
            except queue.Empty:
                break
        self.chunks.extend(out)
        return out

    def finish(self) -> Iterator[np.ndarray]:
        """Close the utterance and yield the remaining chunks as they are produced."""
        self._units.put(_END)
        while self._thread.is_alive() or not self._audio.empty():
            try:
                chunk = self._audio.get(timeout=0.05)
            except queue.Empty:
                continue
            self.chunks.append(chunk)
            yield chunk
        self._thread.join()

    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.float32)
