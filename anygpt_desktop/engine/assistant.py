"""The assistant the GUI and the CLIs talk to: one conversational turn in, a stream of typed events out.

``Assistant.turn`` is a plain generator taking a :class:`~anygpt_desktop.cancel.CancelToken`, so it runs and is
tested without threads or Qt; the GUI runs it in its one worker thread. History stays consistent: a turn that
fails leaves no trace in it (the reference kept the dangling user message, reference-behaviour §11.5); a cancelled turn is kept as
far as it got.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generator, Iterator, Sequence

import numpy as np
import soundfile as sf
import torch

from anygpt_desktop.cancel import CancelToken, TaskState, check
from anygpt_desktop.engine.decode_loop import DecodeLoop, DecodeSettings
from anygpt_desktop.engine.decode_strategies import ScriptedIds, TokenStrategy
from anygpt_desktop.engine.eager_backend import EagerBackend
from anygpt_desktop.engine.events import (
    Event,
    ImageReady,
    MusicReady,
    Notice,
    SpeechChunk,
    SpeechReady,
    TextDelta,
    TranscriptDelta,
    TurnDone,
    TurnFailed,
)
from anygpt_desktop.engine.llm import LoadedLLM, ModelLoadError, TokenizerOnlyLLM, load_llm
from anygpt_desktop.engine.llm_backend import DecodeBackend
from anygpt_desktop.engine.media import MUSIC_RATE, SPEECH_RATE, MediaModels
from anygpt_desktop.engine.outputs import unique_path
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine.speech_output import SpeechOutput
from anygpt_desktop.protocol import stream_parser as sp
from anygpt_desktop.protocol.kinds import OUTPUT_MODALITIES
from anygpt_desktop.protocol.prompts import Conversation, interleaved_user_message
from anygpt_desktop.protocol.reference_compat import ReplyExtractionError, chat_reply
from anygpt_desktop.protocol.text_tokenizer import Segment, UserText
from anygpt_desktop.protocol.units import music_codes_to_units, music_units_to_codes, units_to_string
from anygpt_desktop.layout import ModelPaths
from anygpt_desktop.protocol.vocab import (
    COLON_ID,
    END_OF_MESSAGE_ID,
    END_OF_MMGPT_ID,
    EOS_ID,
    FIRST_UNIT_ID,
    MMGPT_ID,
    ROLE_IDS,
)

if TYPE_CHECKING:
    from anygpt_desktop.engine.vllm_client import VllmDecodeLoop
    from anygpt_desktop.modalities.speech.voice import VoicePrompt

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 4096  # the SFT sequence length (config.json says 2048, which has no effect in HF, reference-behaviour §10.15)


class InputError(ValueError):
    """A user input that cannot be used; the message is for the user."""


def user_facing_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message already says, in the user's terms, what went wrong with an input or a model file."""
    from anygpt_desktop.audio.errors import AudioError
    from anygpt_desktop.engine.vllm_client import LlmServerError
    from anygpt_desktop.modalities.image.seed_tokenizer import SeedError
    from anygpt_desktop.modalities.image.unclip import UnclipError
    from anygpt_desktop.modalities.music.errors import MusicError
    from anygpt_desktop.modalities.speech.errors import SpeechError

    return (InputError, ModelLoadError, LlmServerError, AudioError, SpeechError, MusicError, SeedError, UnclipError, ValueError, OSError)


@dataclass
class AssistantSettings:
    device: str | None = None  # "cuda", "cpu" or None for automatic
    dtype: str | None = None  # "float16", "bfloat16", "float32": that float type (else ``precision`` decides)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 | int8 | int4 (auto: from the free VRAM/RAM, see memory_plan)
    decode_mode: str | None = None  # "eager" | "compiled" (static KV cache, torch.compile); None: compiled on CUDA
    seed: int | None = None
    output_dir: Path | None = None  # default: <models>/../outputs
    default_voice: Path | None = None  # a recording used when a turn gives none; None = SoundStorm unprompted
    image_idle_release_s: float = 600.0  # image models unused this long are freed at the start of a turn
    reply_budget_tokens: int = 1024  # room kept for the reply when old exchanges must leave the context
    decode: DecodeSettings = field(default_factory=DecodeSettings)
    llm_url: str | None = None  # the LLM on a vLLM server (http://host:8000/v1); None: $ANYGPT_LLM_URL, else local
    llm_api_key: str | None = None  # that server's bearer token; None: $ANYGPT_LLM_API_KEY
    llm_model: str | None = None  # the served model's name; None: the first one the server lists

    def served_llm_url(self) -> str | None:
        """Where the LLM is served, or None when it runs here (the setting, else ``$ANYGPT_LLM_URL``)."""
        import os

        return self.llm_url or os.environ.get("ANYGPT_LLM_URL") or None


@dataclass
class GenerationJob:
    """One generation, chat turn or base task: the prompt, how to decode it, and what it is for."""

    prompt_ids: list[int]
    settings: DecodeSettings
    request: TurnRequest  # the voice prompt, and a label for the output files
    state: CancelToken
    script: Sequence[int] | None = None  # scripted ids instead of sampling (tests, benchmarks)
    label: str = ""  # output file names; default: the request's text
    started: float = field(default_factory=time.perf_counter)  # first audio is timed from here

    def strategy(self) -> TokenStrategy | None:
        return ScriptedIds(self.script) if self.script is not None else None


@dataclass
class GenerationResult:
    """What one generation produced, for history and the final event."""

    ids: list[int] = field(default_factory=list)
    ended: str | None = None
    text: str = ""
    transcript: str = ""
    timings: dict[str, float] = field(default_factory=dict)


class Assistant:
    """Owns the models of one models folder and the conversation."""

    def __init__(self, models_dir: Path | str, device: str | None = None, settings: AssistantSettings | None = None) -> None:
        self.settings = settings or AssistantSettings()
        if device is not None:
            self.settings.device = device
        self.paths = ModelPaths(Path(models_dir))
        self.conversation = Conversation()
        self.llm: LoadedLLM | TokenizerOnlyLLM | None = None
        self.media: MediaModels | None = None
        self._loop: DecodeLoop | VllmDecodeLoop | None = None
        self._beam_notice_given = False
        self._turn_count = 0
        self._load_notices: list[str] = []  # said at the next turn (the load has no event stream)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def load(self, state: CancelToken | None = None, llm_folder: Path | None = None) -> None:
        """Load the LLM (the media models load on first use). Raises :class:`ModelLoadError` with a readable reason.
        With ``settings.llm_url`` (or ``$ANYGPT_LLM_URL``) the LLM runs on that vLLM server: only its tokenizer loads."""
        state = state or TaskState()
        url = self.settings.served_llm_url()
        if url:
            self._load_served(url, state, llm_folder)
            return
        state.progress(0.05, "loading the language model")
        self.llm = load_llm(
            llm_folder or self.paths.chat_llm, self.settings.device, self.settings.dtype, self.settings.precision
        )
        check(state)
        self._loop = DecodeLoop(self.llm, self._backend(self.llm, state))
        self.media = MediaModels(self.paths.root, self.llm.device, seed=self.settings.seed)
        state.progress(1.0, "ready")

    def _load_served(self, url: str, state: CancelToken, llm_folder: Path | None) -> None:
        """The LLM on a vLLM server: its tokenizer here, the media models on the local device. The server is asked
        for its model now; one that does not answer yet (vLLM still loading) is a notice, and each turn asks again."""
        import os

        from anygpt_desktop.engine.llm import load_llm_tokenizer_only
        from anygpt_desktop.engine.vllm_client import API_KEY_ENV, LlmServer, LlmServerError, VllmDecodeLoop

        state.progress(0.05, f"connecting to the LLM server at {url}")
        try:
            server = LlmServer(url, api_key=self.settings.llm_api_key or os.environ.get(API_KEY_ENV) or None,
                               model=self.settings.llm_model)
        except LlmServerError as exc:
            raise ModelLoadError(str(exc)) from exc
        self.llm = load_llm_tokenizer_only(llm_folder or self.paths.chat_llm, self.settings.device, url)
        check(state)
        self.close_llm_client()
        loop = VllmDecodeLoop(server, self.llm.vocab_size)
        try:
            model, _ = loop.model_info()
            logger.info("the LLM is served by %s (model %s)", url, model)
        except LlmServerError as exc:
            logger.warning("%s", exc)
            self._load_notices.append(f"{exc}; each turn tries again")
        self._loop = loop
        self.media = MediaModels(self.paths.root, self.llm.device, seed=self.settings.seed)
        state.progress(1.0, "ready")

    def close_llm_client(self) -> None:
        """Close the connections to the LLM server, if any (a reload makes a new client)."""
        close = getattr(self._loop, "close", None)
        if callable(close):
            close()

    def _backend(self, llm: LoadedLLM, state: CancelToken) -> DecodeBackend:
        """The forward pass the decode loop drives: Hugging Face's eager model, or the static-cache step compiled
        with ``torch.compile`` (the default on CUDA). A compile failure falls back to the eager step, with a notice."""
        from anygpt_desktop.engine.static_backend import default_decode_mode, make_backend

        mode = self.settings.decode_mode or default_decode_mode(llm.device)
        if mode == "eager":
            return EagerBackend(llm)
        state.progress(0.6, "compiling the decode step (once per model and GPU; cached afterwards)")
        backend = make_backend(llm, mode, progress=lambda message, fraction: state.progress(0.6 + 0.35 * fraction, message))
        if backend.compile_error:
            self._load_notices.append(
                f"the fast decode step could not be compiled ({backend.compile_error}); replies use the slower eager "
                "step"
            )
        return backend

    @property
    def output_dir(self) -> Path:
        return self.settings.output_dir or self.paths.root.parent / "outputs"

    def clear(self) -> None:
        self.conversation.clear()
        if self._loop is not None:
            self._loop.reset()

    def reset_cache(self) -> None:
        if self._loop is not None:
            self._loop.reset()

    def history_json(self) -> dict:
        return self.conversation.to_json()

    def restore(self, data: dict) -> None:
        self.conversation = Conversation.from_json(data)
        if self._loop is not None:
            self._loop.reset()

    # -- a chat turn -------------------------------------------------------------------------------------------
    def turn(self, request: TurnRequest, state: CancelToken | None = None, forced_ids: Sequence[int] | None = None) -> Iterator[Event]:
        """Run one chat turn, yielding events. ``forced_ids`` makes the LLM emit given ids (tests, benchmarks)."""
        state = state or TaskState()
        if self.llm is None:
            yield TurnFailed("the models are not loaded yet")
            return
        if request.is_empty():
            yield TurnFailed("nothing to send: type something, speak, or drop a file")
            return
        start = time.perf_counter()
        while self._load_notices:
            yield Notice(self._load_notices.pop(0))
        if self.media is not None:
            self.media.release_idle(self.settings.image_idle_release_s)
        try:
            encode_start = time.perf_counter()
            user = self.user_message(request)
            encoded = time.perf_counter()
        except user_facing_errors() as exc:
            yield TurnFailed(str(exc))
            return
        except Exception as exc:  # an input we could not use must not take the app down
            logger.exception("input could not be used")
            yield TurnFailed(f"the input could not be used ({type(exc).__name__}: {exc})")
            return
        prompt_ids, dropped = self._fit_context(user)
        if dropped:
            yield Notice(f"the conversation is long: the oldest {dropped} exchange(s) were left out of the model's memory")
        job = GenerationJob(prompt_ids, self._chat_settings(request), request, state, script=forced_ids, started=start)
        try:
            out = yield from self.generate(job)
        except torch.cuda.OutOfMemoryError:  # pragma: no cover - needs a GPU
            yield TurnFailed("the GPU ran out of memory during this turn; try a shorter input or the CPU")
            return
        except user_facing_errors() as exc:
            yield TurnFailed(str(exc))
            return
        except Exception as exc:  # the history stays as it was; the app keeps running
            logger.exception("turn failed")
            yield TurnFailed(f"the reply failed ({type(exc).__name__}: {exc}); the conversation is unchanged")
            return
        self._store(user, out, cancelled=state.cancelled())
        timings = {"encode_inputs": encoded - encode_start, **out.timings, "total": time.perf_counter() - start}
        if state.cancelled():
            yield TurnFailed("stopped", cancelled=True)
            return
        stats = {"new_tokens": self._loop.last_stats.new_tokens, "cached_tokens": self._loop.last_stats.cached_tokens}
        yield TurnDone(out.text, out.transcript, timings, stats)

    def _fit_context(self, user: list[Segment]) -> tuple[list[int], int]:
        """Prompt ids for the history plus ``user``, dropping the oldest exchanges while the prompt leaves less than
        ``reply_budget_tokens`` of the context the model was tuned with (4096 tokens, reference-behaviour §1.1)."""
        assert self.llm is not None
        limit = CONTEXT_TOKENS - self.settings.reply_budget_tokens
        dropped = 0
        while True:
            ids = self.llm.tokenizer.encode(self.conversation.render(user))
            if len(ids) <= limit or len(self.conversation.messages) < 2:
                return ids, dropped
            del self.conversation.messages[:2]
            dropped += 1

    def user_message(self, request: TurnRequest) -> list[Segment]:
        """The user's turn as prompt segments: typed text stays text, media become unit spans."""
        assert self.media is not None
        images = [units_to_string("image", self.image_units(p)) for p in request.images]
        music = [units_to_string("music", music_codes_to_units(self.music_codes(p))) for p in request.music]
        speech = [units_to_string("speech", self.speech_file_units(p)) for p in request.speech_files]
        if request.speech is not None:
            if len(request.speech) < SPEECH_RATE // 10:
                raise InputError("the recording is too short (under 0.1 s); hold the key while you speak")
            speech.append(units_to_string("speech", self.media.speech_units(request.speech)))
        return interleaved_user_message(UserText(request.text.strip()), images=images, music=music, speech=speech)

    def image_units(self, path: Path) -> list[int]:
        assert self.media is not None
        return self.media.image_units(Path(path))

    def music_codes(self, path: Path) -> np.ndarray:
        assert self.media is not None
        return self.media.music_codes(Path(path))

    def speech_file_units(self, path: Path) -> list[int]:
        assert self.media is not None
        return self.media.speech_file_units(Path(path))

    def _chat_settings(self, request: TurnRequest) -> DecodeSettings:
        base = self.settings.decode
        wants = request.output_modality
        if wants is None and (request.speech is not None or request.speech_files):
            wants = "speech"  # a spoken instruction gets a spoken reply ("...give reply and voice")
        seed = base.seed if base.seed is not None else self.settings.seed
        if seed is not None:
            seed += self._turn_count
        return dataclasses.replace(
            base, force_modality=wants if wants in OUTPUT_MODALITIES else None, seed=seed
        )

    def _voice(self, request: TurnRequest) -> VoicePrompt | None:
        assert self.media is not None
        path = request.voice_prompt or self.settings.default_voice
        return self.media.voices.from_file(path) if path else None

    # -- generation shared by chat turns and base tasks ---------------------------------------------------------
    def generate(self, job: GenerationJob) -> Generator[Event, None, GenerationResult]:
        """Run one generation, yielding its events; returns what it produced (``out = yield from ...``)."""
        assert self.llm is not None and self._loop is not None and self.media is not None
        self._turn_count += 1
        settings, request, state, start = job.settings, job.request, job.state, job.started
        out = GenerationResult()
        timings = out.timings
        parser = sp.StreamParser(self.llm.tokenizer)
        speech: SpeechOutput | None = None
        chunk_index = 0
        finished_spans: list[sp.SpanFinished] = []
        label = job.label or request.text or "reply"

        def handle(events: list[sp.Event]) -> Iterator[Event]:
            nonlocal speech
            for ev in events:
                if isinstance(ev, sp.ParsedText):
                    yield (TranscriptDelta(ev.text) if ev.channel == "transcript" else TextDelta(ev.text))
                elif isinstance(ev, sp.SpanStarted) and ev.modality == "speech" and speech is None:
                    try:
                        voice = self._voice(request)
                        _ = (self.media.speechtokenizer, self.media.soundstorm)  # load now: a missing file is a notice
                    except Exception as exc:  # a voice or model problem must not end the turn
                        yield Notice(f"no spoken reply: {exc}")
                        continue
                    speech = SpeechOutput(self.media, voice, state, seed=settings.seed)
                elif isinstance(ev, sp.UnitsDelta) and ev.modality == "speech" and speech is not None:
                    speech.push(ev.units)
                elif isinstance(ev, sp.SpanFinished):
                    finished_spans.append(ev)
                elif isinstance(ev, sp.Diagnostic) and ev.code in ("invalid_span", "unclosed_span"):
                    yield Notice(ev.message)

        def audio_events(chunks: list[np.ndarray]) -> Iterator[Event]:
            nonlocal chunk_index
            for chunk in chunks:
                if "first_audio" not in timings:
                    timings["first_audio"] = time.perf_counter() - start
                yield SpeechChunk(chunk, SPEECH_RATE, chunk_index)
                chunk_index += 1

        if settings.text_beams > 1 and isinstance(self.llm, TokenizerOnlyLLM):
            settings = dataclasses.replace(settings, text_beams=1)
            if not self._beam_notice_given and settings.force_modality is None:
                self._beam_notice_given = True
                yield Notice("beam sampling is not available with a vLLM server: text replies are sampled once "
                             "(and streamed)")
        for token in self._loop.run(job.prompt_ids, settings, state, job.strategy()):
            out.ids.append(token)
            yield from handle(parser.feed(token))
            if speech is not None:
                yield from audio_events(speech.poll())
        yield from handle(parser.finish())
        stats = self._loop.last_stats
        timings["prefill"] = stats.prefill_seconds
        timings["decode"] = stats.seconds
        timings["tokens_per_second"] = stats.tokens_per_second
        out.ended = parser.ended
        out.text = parser.text("reply")
        out.transcript = parser.text("transcript")

        if speech is not None:
            t = time.perf_counter()
            yield from audio_events(list(speech.finish()))
            timings["speech_tail"] = time.perf_counter() - t
            if speech.error is not None:
                yield Notice(f"the spoken reply failed: {speech.error}")
            audio = speech.audio()
            if len(audio) and not state.cancelled():
                path = unique_path(self.output_dir, label, "speech", ".wav")
                sf.write(path, audio, SPEECH_RATE, subtype="FLOAT")
                yield SpeechReady(path, SPEECH_RATE, len(audio) / SPEECH_RATE)
        for span in finished_spans:
            if state.cancelled() or not span.valid or span.modality == "speech":
                continue
            try:
                if span.modality == "image":
                    yield self._render_image(span.units, state, label, timings)
                elif span.modality == "music":
                    yield self._render_music(span.units, label, timings)
            except Exception as exc:  # one failed medium must not lose the turn
                if state.cancelled():
                    continue
                logger.exception("%s output failed", span.modality)
                yield Notice(f"the {span.modality} could not be produced: {exc}")
        return out

    def _render_image(self, units: Sequence[int], state: CancelToken, label: str, timings: dict[str, float]) -> Event:
        assert self.media is not None
        t = time.perf_counter()
        image = self.media.image.decode(list(units), state=state, seed=self.settings.seed)
        path = unique_path(self.output_dir, label, "image", ".png")
        image.save(path)
        timings["image"] = time.perf_counter() - t
        return ImageReady(path, image.width, image.height)

    def _render_music(self, units: Sequence[int], label: str, timings: dict[str, float]) -> Event:
        assert self.media is not None
        t = time.perf_counter()
        codes = np.asarray(music_units_to_codes(list(units)), dtype=np.int64)
        wav = np.asarray(self.media.music.decode(codes), dtype=np.float32).reshape(-1)
        path = unique_path(self.output_dir, label, "music", ".wav")
        sf.write(path, wav, MUSIC_RATE, subtype="FLOAT")
        timings["music"] = time.perf_counter() - t
        return MusicReady(path, MUSIC_RATE, len(wav) / MUSIC_RATE)

    # -- history -----------------------------------------------------------------------------------------------
    def _store(self, user: list[Segment], out: GenerationResult, cancelled: bool) -> None:
        """Append the turn as the reference would have stored it (": reply" with spaced units)."""
        assert self.llm is not None
        ids = list(out.ids)
        if not ids or (cancelled and not out.text and not any(i >= FIRST_UNIT_ID for i in ids)):
            return  # nothing worth keeping
        cut = next((k for k, i in enumerate(ids) if i in ROLE_IDS), len(ids))  # the model began another turn
        ids = [i for i in ids[:cut] if i != EOS_ID]
        if not ids or ids[-1] not in (END_OF_MMGPT_ID, END_OF_MESSAGE_ID):
            ids.append(END_OF_MMGPT_ID)
        decoded = self.llm.tokenizer.decode([MMGPT_ID, COLON_ID] + ids)
        try:
            reply = chat_reply(decoded)
        except ReplyExtractionError:
            logger.warning("turn not stored: no reply could be extracted")
            return
        self.conversation.append_user(user)
        self.conversation.append_assistant(reply)

