"""``anygpt-desktop chat`` and ``anygpt-desktop base``: line-oriented front ends over the engine.

Both read lines from stdin (a prompt is shown when stdin is a terminal) and save outputs under ``--output-dir``
with sanitised, unique names; speech 16 kHz WAV, music 32 kHz WAV, images PNG. A line that is not valid UTF-8 is
reported and skipped (it never ends the session); ``--max-tokens`` caps every reply (text and units).
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import sys
from pathlib import Path
from typing import Iterator, TextIO

from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
from anygpt_desktop.engine.base_tasks import capped, run_base_task
from anygpt_desktop.engine.events import (
    Event,
    ImageReady,
    MusicReady,
    Notice,
    SpeechReady,
    TextDelta,
    TranscriptDelta,
    TurnDone,
    TurnFailed,
)
from anygpt_desktop.layout import resolve_models_dir
from anygpt_desktop.engine.llm import ModelLoadError
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.cancel import TaskState
from anygpt_desktop.path_checks import path_problem
from anygpt_desktop.protocol.cli_grammar import ChatLine, LineError, parse_base_line, parse_chat_line

logger = logging.getLogger(__name__)

# The engine's model errors end with the window's way out; the command line names its own.
_GUI_ADVICE = re.compile(
    r"\s*[:;,]?\s*(?:download it in the model manager|open the model manager to download it)\.?\s*$", re.IGNORECASE
)


def cli_message(message: str, models_dir: Path | None = None) -> str:
    """``message`` in the command line's terms: the model manager's advice becomes the CLI's ways out."""
    if not _GUI_ADVICE.search(message):
        return message
    folder = f" --models {models_dir}" if models_dir is not None else ""
    return (
        f"{_GUI_ADVICE.sub('', message)}.\n"
        f"  download the models:        anygpt-desktop models download{folder}\n"
        "  use a folder that has them: --models DIR (or set ANYGPT_MODELS_DIR)\n"
        "  try the tiny demo models:   --demo"
    )


class BadLine(str):
    """A stdin line that could not be decoded; its text is the message to show."""


def _lines(stream: TextIO, prompt: str) -> Iterator[str]:
    """Non-empty input lines; lines that are not UTF-8 come as :class:`BadLine` (the text stream's own decoder
    would end the whole session with a traceback)."""
    interactive = stream.isatty()
    raw = getattr(stream, "buffer", None)
    number = 0
    while True:
        if interactive:
            print(prompt, end="", flush=True)
        if raw is not None:
            data = raw.readline()
            number += 1
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadLine(f"input line {number} is not valid UTF-8 text (byte {exc.start}); it was skipped")
                continue
        else:
            line = stream.readline()
            number += 1
        if not line:
            return
        if line.strip():
            yield line.rstrip("\r\n")


def _print_events(events: Iterator[Event], out: TextIO, models_dir: Path | None = None) -> bool:
    """Print a turn's events; True if it succeeded."""
    ok = True
    wrote_text = False
    for ev in events:
        if isinstance(ev, TranscriptDelta):
            continue
        if isinstance(ev, TextDelta):
            out.write(ev.text)
            out.flush()
            wrote_text = True
        elif isinstance(ev, (SpeechReady, MusicReady)):
            print(f"\n[{'speech' if isinstance(ev, SpeechReady) else 'music'}] {ev.path} ({ev.seconds:.1f} s)", file=out)
        elif isinstance(ev, ImageReady):
            print(f"\n[image] {ev.path} ({ev.width}x{ev.height})", file=out)
        elif isinstance(ev, Notice):
            print(f"\n[note] {cli_message(ev.message, models_dir)}", file=out)
        elif isinstance(ev, TurnDone):
            if ev.transcript:
                print(f"\n[heard] {ev.transcript}", file=out)
            if wrote_text:
                print(file=out)
        elif isinstance(ev, TurnFailed):
            print(f"\n[error] {cli_message(ev.reason, models_dir)}", file=out)
            ok = False
    return ok


def _assistant(args: argparse.Namespace) -> Assistant:
    settings = AssistantSettings(
        device=getattr(args, "device", None),
        precision=getattr(args, "precision", None) or "auto",
        decode_mode=getattr(args, "decode", None),
        seed=getattr(args, "seed", None),
        output_dir=Path(args.output_dir) if getattr(args, "output_dir", None) else None,
        llm_url=getattr(args, "llm_url", None),
        llm_api_key=getattr(args, "llm_api_key", None),
        llm_model=getattr(args, "llm_model", None),
    )
    settings.decode.text_beams = max(1, int(getattr(args, "beams", 1) or 1))
    cap = getattr(args, "max_tokens", None)
    if cap:
        settings.decode = capped(settings.decode, cap)
    return Assistant(resolve_models_dir(getattr(args, "models", None)), settings=settings)


def _path_errors(line: ChatLine) -> list[str]:
    """What is wrong with the files a chat line names (all of them, so one pass fixes the line)."""
    named: list[tuple[str, str]] = [(p, "image file") for p in line.images]
    named += [(p, "audio file") for p in line.speech]
    named += [(p, "music file") for p in line.music]
    if line.voice_prompt:
        named.append((line.voice_prompt, "voice prompt file"))
    return [problem for path, what in named if (problem := path_problem(path, what)) is not None]


def _models_flag(args: argparse.Namespace) -> Path | None:
    """The folder to name in ``models download --models DIR`` (None: the default folder needs no flag)."""
    return Path(args.models) if getattr(args, "models", None) else None


def run_chat(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    assistant = _assistant(args)
    try:
        assistant.load()
    except ModelLoadError as exc:
        print(f"error: {cli_message(str(exc), _models_flag(args))}", file=sys.stderr)
        return 2
    return chat_session(assistant, stdin, stdout, _models_flag(args))


def chat_session(assistant: Assistant, stdin: TextIO, stdout: TextIO, models_flag: Path | None = None) -> int:
    """Run chat lines from ``stdin`` on a loaded assistant; 1 if any turn failed, else 0."""
    failures = 0
    for raw in _lines(stdin, "you> "):
        if isinstance(raw, BadLine):
            print(f"[error] {raw}", file=stdout)
            failures += 1
            continue
        line = parse_chat_line(raw)
        if line.quit:
            break
        if line.clear:
            assistant.clear()
            print("[history cleared]", file=stdout)
            continue
        problems = _path_errors(line)
        if problems:
            print("[error] " + "; ".join(problems), file=stdout)
            failures += 1
            continue
        request = TurnRequest(
            text=line.text,
            speech_files=[Path(p) for p in line.speech],
            images=[Path(p) for p in line.images],
            music=[Path(p) for p in line.music],
            voice_prompt=Path(line.voice_prompt) if line.voice_prompt else None,
            output_modality=line.output_modality if line.output_modality != "text" else None,
        )
        if not _print_events(assistant.turn(request, TaskState()), stdout, models_flag):
            failures += 1
    return 1 if failures else 0


def run_base(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    assistant = _assistant(args)
    folder = assistant.paths.base_llm if assistant.paths.base_llm.is_dir() else assistant.paths.chat_llm
    try:
        assistant.load(llm_folder=folder)
    except ModelLoadError as exc:
        print(f"error: {cli_message(str(exc), _models_flag(args))}", file=sys.stderr)
        return 2
    if folder != assistant.paths.base_llm:
        logger.warning("no AnyGPT-base model in %s: running the base tasks on the chat model", assistant.paths.root)
    return base_session(assistant, stdin, stdout, random.Random(getattr(args, "seed", None)), _models_flag(args))


def base_session(
    assistant: Assistant, stdin: TextIO, stdout: TextIO, rng: random.Random | None = None, models_flag: Path | None = None
) -> int:
    """Run base-task lines from ``stdin`` on a loaded assistant; 1 if any task failed, else 0."""
    rng = rng or random.Random()
    failures = 0
    for raw in _lines(stdin, "task> "):
        if isinstance(raw, BadLine):
            print(f"[error] {raw}", file=stdout)
            failures += 1
            continue
        if raw.strip() == "quit":
            break
        try:
            line = parse_base_line(raw)
        except LineError as exc:
            print(f"[error] {exc}", file=stdout)
            failures += 1
            continue
        if not _print_events(run_base_task(assistant, line, TaskState(), rng), stdout, models_flag):
            failures += 1
    return 1 if failures else 0
