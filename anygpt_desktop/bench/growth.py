"""``anygpt-desktop bench growth``: does a long session grow? N spoken turns with spoken replies on one assistant.

Each turn goes through :meth:`Assistant.turn` with 1 s of speech in and a forced reply of a few words and 1 s of
speech units out (streamed through SoundStorm and the decoder, written to the output folder), exactly like the app.
The conversation is cleared every ``CLEAR_EVERY`` turns, as a user starting a new conversation would (the tiny
model's context is short). Printed at intervals: resident memory (RSS), open file descriptors, files in the output
folder and seconds per turn; then the change from the first interval to the last. Nothing is asserted on timing.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from anygpt_desktop.cancel import TaskState
from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
from anygpt_desktop.engine.events import SpeechChunk, TurnDone
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.protocol.vocab import END_OF_MMGPT_ID, SPAN_IDS, UNIT_BASE_ID

TURNS = 200
CLEAR_EVERY = 4
SPEECH_UNITS = 50  # 1 s of speech out per turn
SPEECH_UNIT_BASE, (SOSP, EOSP), EOT = UNIT_BASE_ID["speech"], SPAN_IDS["speech"], END_OF_MMGPT_ID


@dataclass(frozen=True)
class Sample:
    turn: int
    rss_mib: float
    open_fds: int
    output_files: int
    seconds_per_turn: float


def rss_mib() -> float:
    """Resident memory now (Linux: /proc; elsewhere the peak, which cannot fall)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def open_fds() -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder)) - 1  # minus the listing's own descriptor
        except OSError:
            continue
    return -1


def _reply_ids(assistant: Assistant, turn: int) -> list[int]:
    text = assistant.llm.tokenizer.encode(f"<-Ins-> hello number {turn}\n <-Res-> Sure, here it is.<eot>\n", add_bos=False)
    units = [SPEECH_UNIT_BASE + (turn * 31 + k * 37) % 1024 for k in range(SPEECH_UNITS)]
    return text + [SOSP] + units + [EOSP, EOT]


def run_growth(models: Path, output_dir: Path, turns: int, every: int, device: str | None = None) -> Iterator[Sample]:
    """Run ``turns`` spoken turns, yielding a sample after the first turn, every ``every`` turns and the last."""
    assistant = Assistant(models, settings=AssistantSettings(seed=0, output_dir=output_dir, device=device))
    assistant.load()
    rate = 16000
    t = np.arange(rate) / rate
    speech = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    since = time.perf_counter()
    turns_since = 0
    for turn in range(turns):
        if turn and turn % CLEAR_EVERY == 0:
            assistant.clear()
        done = None
        audio = 0
        for event in assistant.turn(TurnRequest(speech=speech), TaskState(), forced_ids=_reply_ids(assistant, turn)):
            if isinstance(event, SpeechChunk):
                audio += len(event.audio)
            elif isinstance(event, TurnDone):
                done = event
        if done is None or audio == 0:
            raise RuntimeError(f"turn {turn} did not finish with speech")
        turns_since += 1
        if turn == 0 or (turn + 1) % every == 0 or turn == turns - 1:
            gc.collect()
            now = time.perf_counter()
            files = sum(1 for p in output_dir.rglob("*") if p.is_file())
            yield Sample(turn + 1, rss_mib(), open_fds(), files, (now - since) / turns_since)
            since, turns_since = now, 0


def run(args: argparse.Namespace) -> int:
    turns = getattr(args, "turns", None) or TURNS
    every = max(1, turns // 10)
    with tempfile.TemporaryDirectory(prefix="anygpt-bench-growth-") as tmp:
        models = getattr(args, "models", None)
        if not models:
            from anygpt_desktop.tiny_kit import make_tiny

            models = make_tiny(Path(tmp) / "tiny", seed=0)
        print(f"bench growth: {turns} spoken turns (1 s in, 1 s out) on the models in {models}")
        print(f"  {'turn':>5} {'RSS MiB':>9} {'open fds':>9} {'output files':>13} {'s/turn':>8}")
        samples = []
        for s in run_growth(Path(models), Path(tmp) / "outputs", turns, every, getattr(args, "device", None)):
            samples.append(s)
            print(f"  {s.turn:5d} {s.rss_mib:9.1f} {s.open_fds:9d} {s.output_files:13d} {s.seconds_per_turn:8.2f}", flush=True)
    first, last = samples[min(1, len(samples) - 1)], samples[-1]  # from the first interval (after warm-up) on
    print(
        f"  change from turn {first.turn} to {last.turn}: RSS {last.rss_mib - first.rss_mib:+.1f} MiB, "
        f"open fds {last.open_fds - first.open_fds:+d}"
    )
    return 0 if all(math.isfinite(s.rss_mib) for s in samples) else 1
