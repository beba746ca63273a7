"""``anygpt-desktop bench turn``: one spoken turn with a spoken reply, streamed, against the reference's way.

The reply is forced to a realistic shape (about 20 transcript tokens, 30 text tokens, 10 s = 500 speech units), so
the figures do not depend on what random weights would say. Printed: tokens/s of the decode loop, time to the first
audio chunk, real-time factor of each stage, peak memory; then the reference's way on the same models (generate to
the token limit, then SoundStorm and the decoder over the whole utterance) and the ratio of the two times to first
audio. ``--full-size`` builds the released architectures with random weights in memory (LLaMA-2-7B in fp16/bf16 on
CUDA; on a CPU use ``--llm-layers`` to keep it tractable); otherwise the tiny kit is used (written if needed).

Playback: the speech chunks' arrival times are replayed through the real ``StreamingPlayer`` on a simulated sound card
(a fake clock, 20 ms blocks), with and without its jitter buffer: underruns, silence inside the reply, and the wait
before the first sound. ``--slow-producer FACTOR`` slows speech synthesis to at most 1/FACTOR of real time (it sleeps
after each SoundStorm call until FACTOR x the chunk's audio length has passed), as on a slow machine.
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from anygpt_desktop.audio.playback import StreamingPlayer
from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
from anygpt_desktop.engine.decode_loop import DecodeLoop, DecodeSettings
from anygpt_desktop.engine.decode_strategies import ScriptedIds
from anygpt_desktop.engine.events import SpeechChunk, TurnDone
from anygpt_desktop.engine.llm import pick_device, pick_dtype
from anygpt_desktop.engine.media import MediaModels
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.cancel import TaskState
from anygpt_desktop.protocol.prompts import Conversation
from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer
from anygpt_desktop.protocol.vocab import END_OF_MMGPT_ID, SPAN_IDS, UNIT_BASE_ID, UNIT_COUNT

logger = logging.getLogger(__name__)

SPEECH_SECONDS = 10.0
SPEECH_START, SPEECH_END = SPAN_IDS["speech"]
REFERENCE_SPEECH_LIMIT = 1500  # speech_generate_config.json max_new_tokens


def _forced_reply(tokenizer: AnyGPTTokenizer, speech_units: int) -> list[int]:
    transcript = "can you tell me something nice about the weather today in the city where I live please"
    reply = "Of course. The sun is out, the air is warm and a light breeze makes it a lovely day for a walk outside."
    ids = tokenizer.encode(f"<-Ins-> {transcript}\n <-Res-> {reply}<eot>\n", add_bos=False)
    units = [UNIT_BASE_ID["speech"] + (k * 37) % UNIT_COUNT["speech"] for k in range(speech_units)]
    return ids + [SPEECH_START] + units + [SPEECH_END, END_OF_MMGPT_ID]


def _full_size_assistant(
    device: torch.device, llm_layers: int, output_dir: Path, precision: str = "auto", decode_mode: str | None = None
) -> Assistant:
    from anygpt_desktop.bench.decode import random_llm
    from anygpt_desktop.bench.speech import random_models

    dtype = pick_dtype(device)
    llm = random_llm(device, dtype, llm_layers)
    model = llm.model
    assistant = Assistant(output_dir / "no-models", settings=AssistantSettings(seed=0, output_dir=output_dir))
    assistant.llm = llm
    if precision in ("int8", "int4"):
        from anygpt_desktop.engine.quantize import quantize_model

        quantize_model(model, precision, dtype=dtype)
    assistant.settings.decode_mode = decode_mode
    assistant._loop = DecodeLoop(assistant.llm, assistant._backend(assistant.llm, TaskState()))
    media = MediaModels(output_dir, device)
    media._speechtokenizer, media._soundstorm = random_models(str(device), torch.float16 if device.type == "cuda" else torch.float32)
    assistant.media = media
    return assistant


UNITS_PER_SECOND = 50


class SlowSoundStorm:
    """Wraps SoundStorm so that each ``generate`` takes at least ``factor`` x the audio it is for (50 units per s)."""

    def __init__(self, model: object, factor: float) -> None:
        self._model = model
        self._factor = factor

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def generate(self, semantic: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        t0 = time.perf_counter()
        out = self._model.generate(semantic, *args, **kwargs)  # type: ignore[attr-defined]
        budget = self._factor * semantic.shape[-1] / UNITS_PER_SECOND
        time.sleep(max(0.0, budget - (time.perf_counter() - t0)))
        return out


@dataclass
class PlaybackFigures:
    underruns: int
    silence_s: float  # inside the reply
    first_sound_s: float  # after the first chunk arrived
    ends_s: float  # when the last sample played, after the first chunk arrived


def replay_playback(arrivals: list[float], chunks: list[np.ndarray], rate: int, jitter_buffer: bool) -> PlaybackFigures:
    """Play chunks that arrived at ``arrivals`` (wall seconds) on a simulated sound card pulling 20 ms blocks."""
    now = [arrivals[0]]
    streams: list = []

    class Card:
        def __init__(self, **kwargs: object) -> None:
            self.callback = kwargs["callback"]
            streams.append(self)

        def start(self) -> None: ...
        def stop(self) -> None: ...
        def abort(self) -> None: ...
        def close(self) -> None: ...

    player = StreamingPlayer(stream_factory=Card, jitter_buffer=jitter_buffer, clock=lambda: now[0])
    block, k, first = rate // 50, 0, None
    while k < len(chunks) or not player.finished.is_set():
        while k < len(chunks) and arrivals[k] <= now[0]:
            player.feed(chunks[k], rate)
            k += 1
            if k == len(chunks):
                player.end()
        out = np.zeros((block, 1), np.float32)
        streams[0].callback(out, block, None, None)
        if first is None and player.position_s > 0:
            first = now[0]
        now[0] += block / rate
    player.close()
    t0 = arrivals[0]
    first_sound = now[0] if first is None else first
    return PlaybackFigures(player.underruns, player.silence_s, first_sound - t0, now[0] - t0)


def _peak_memory(device: torch.device) -> str:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.type == "cuda":
        return f"peak GPU {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, peak RSS {rss / 1024:.2f} GiB"
    return f"peak RSS {rss / 1024:.2f} GiB"


def _reference_way(assistant: Assistant, prompt_ids: list[int], forced: list[int]) -> dict[str, float]:
    """Generate to the speech config's token limit, then synthesise the whole utterance at once."""
    from anygpt_desktop.modalities.speech.streaming import synthesize

    limit_script = forced[:-1] + [13] * max(0, REFERENCE_SPEECH_LIMIT - (len(forced) - 1))  # on to the limit
    settings = DecodeSettings(max_new_tokens=REFERENCE_SPEECH_LIMIT, max_text_tokens=10**6, max_speech_units=10**6)
    loop = DecodeLoop(assistant.llm)
    t0 = time.perf_counter()
    for _ in loop.run(prompt_ids, settings, strategy=ScriptedIds(limit_script[:REFERENCE_SPEECH_LIMIT])):
        pass
    t_llm = time.perf_counter() - t0
    units = [u - UNIT_BASE_ID["speech"] for u in forced if 0 <= u - UNIT_BASE_ID["speech"] < UNIT_COUNT["speech"]]
    t1 = time.perf_counter()
    with torch.inference_mode():
        synthesize(assistant.media.speechtokenizer, assistant.media.soundstorm, units, None, steps=3)
    t_synth = time.perf_counter() - t1
    return {"llm": t_llm, "synth": t_synth, "first_audio": t_llm + t_synth, "tokens": loop.last_stats.new_tokens}


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="anygpt-bench-") as tmp:
        return _run(args, Path(tmp))


def _run(args: argparse.Namespace, out: Path) -> int:
    device = pick_device(getattr(args, "device", None))
    precision = (getattr(args, "precision", None) or ["auto"])[0]  # bench takes a list (decode compares several)
    decode_mode = getattr(args, "decode", None)
    if getattr(args, "full_size", False):
        layers = getattr(args, "llm_layers", None) or 32
        what = f"full size, random weights ({layers} LLM layers)"
        assistant = _full_size_assistant(device, layers, out, precision, decode_mode)
    else:
        models = getattr(args, "models", None)
        if not models:
            from anygpt_desktop.tiny_kit import make_tiny

            models = make_tiny(out / "tiny", seed=0)
        what = f"models in {models}"
        settings = AssistantSettings(seed=0, output_dir=out, device=str(device), precision=precision, decode_mode=decode_mode)
        assistant = Assistant(models, settings=settings)
        assistant.load()
    slow = getattr(args, "slow_producer", None)
    if slow:
        assistant.media._soundstorm = SlowSoundStorm(assistant.media.soundstorm, slow)
    rate = 16000
    t = np.arange(3 * rate) / rate
    utterance = (0.3 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    speech_units = int(round(50 * (getattr(args, "speech_seconds", None) or SPEECH_SECONDS)))
    forced = _forced_reply(assistant.llm.tokenizer, speech_units)
    request = TurnRequest(speech=utterance)
    backend = type(assistant._loop.backend).__name__ if assistant._loop is not None else "?"
    print(f"bench turn: {what}; device {device} ({assistant.llm.dtype}, {precision} weights, {backend}); reply: {len(forced)} tokens incl. {speech_units} speech units")

    # warm-up (allocations, lazy loads), then the measured turn
    list(assistant.turn(TurnRequest(speech=utterance[:rate]), TaskState(), forced_ids=[SPEECH_START] + forced[-40:]))
    assistant.clear()
    prompt_ids = assistant.llm.tokenizer.encode(Conversation().render(assistant.user_message(request)))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    audio_seconds = 0.0
    done = None
    arrivals: list[float] = []
    chunks: list[np.ndarray] = []
    chunk_rate = 16000
    for ev in assistant.turn(request, TaskState(), forced_ids=forced):
        if isinstance(ev, SpeechChunk):
            arrivals.append(time.perf_counter() - t0)
            chunks.append(np.asarray(ev.audio, np.float32))
            chunk_rate = ev.sample_rate
            audio_seconds += len(ev.audio) / ev.sample_rate
        elif isinstance(ev, TurnDone):
            done = ev
    wall = time.perf_counter() - t0
    if done is None:
        print("the turn failed")
        return 1
    tm = done.timings
    print(f"  decode loop            {tm['tokens_per_second']:8.1f} tokens/s ({done.stats['new_tokens']} tokens in {tm['decode']:.2f} s)")
    print(f"  encode input           {tm['encode_inputs']:8.2f} s   RTF {tm['encode_inputs'] / 3.0:.3f} (3 s of speech)")
    print(f"  prefill                {tm['prefill']:8.2f} s")
    print(f"  time to first audio    {tm.get('first_audio', float('nan')):8.2f} s")
    print(f"  speech after the LLM   {tm.get('speech_tail', 0.0):8.2f} s")
    print(f"  whole turn             {wall:8.2f} s   for {audio_seconds:.1f} s of speech; turn RTF {wall / max(audio_seconds, 1e-9):.2f}")
    print(f"  memory                 {_peak_memory(device)}")
    if chunks:
        span = arrivals[-1] - arrivals[0]
        production = (audio_seconds - len(chunks[0]) / chunk_rate) / span if span > 0 else float("inf")
        slowed = f", synthesis slowed to <= 1/{slow:g} real time" if slow else ""
        print(f"  speech production      {production:8.2f} x real time after the first chunk ({len(chunks)} chunks{slowed})")
        for label, jitter in (("playback", True), ("  without jitter buffer", False)):
            pb = replay_playback(arrivals, chunks, chunk_rate, jitter_buffer=jitter)
            print(f"  {label:<22} {pb.underruns:8d} underruns, {pb.silence_s:.2f} s silence inside the reply; "
                  f"first sound {pb.first_sound_s:.2f} s after the first chunk, reply over after {pb.ends_s:.2f} s")
    ref = _reference_way(assistant, prompt_ids, forced)
    print(f"  reference's way        LLM to the limit ({ref['tokens']:.0f} tokens) {ref['llm']:.2f} s + whole synthesis {ref['synth']:.2f} s")
    print(f"                         = first audio after {ref['first_audio']:.2f} s")
    ratio = ref["first_audio"] / tm["first_audio"] if tm.get("first_audio") else float("nan")
    print(f"  first audio: streamed is {ratio:.1f}x sooner than the reference's way")
    return 0
