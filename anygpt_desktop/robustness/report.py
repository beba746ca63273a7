"""Run the malformed-input corpus through every entry point and classify each outcome.

Entry points (what the GUI and the CLIs call with a user's file or text):

* ``read_audio`` (a spoken input file, with the app's length limit), ``music_file``, ``voice_prompt`` (the tiny
  kit's SpeechTokenizer), ``open_image``, ``attach`` (:func:`anygpt_desktop.input_files.classify_attachment`, what the
  window should call on drop/paste/pick);
* ``turn``: ``Assistant.turn`` on the tiny kit with the file as image / music / speech file (text cases: as typed
  text); the model is made to answer ``<eos>`` at once, so only the input path is exercised;
* ``chat``: ``cli_runners.chat_session`` with the line in the reference grammar; ``base``: the base task the line
  names (``image|text|PATH``, ``speech|text|PATH``, ``music|text|PATH``, ``text|image|TEXT``);
* ``cli chat`` / ``cli base``: the real ``anygpt-desktop chat|base`` processes, fed every line at once on stdin;
* ``load_llm`` / ``load_speechtokenizer`` for broken model folders; ``history`` (``HistoryStore`` open, append and
  media import) for a corrupt database, a read-only folder and a full disk (an injected ``ENOSPC``).

Outcomes: ``error`` (refused with the readers' own user-facing error type, or a ``TurnFailed``/``[error]`` line
with a plain message), ``accepted``, ``crash`` (any other exception, a message made of an exception's repr, a
traceback, a signal or an unexpected exit code), ``hang`` (past the per-case deadline). Every case also checks
that no file appeared outside the output folder (a sandbox HOME, working and temp folder are snapshot before and
after) and, for text, that the prompt holds no control or unit id that came from the user's text.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from anygpt_desktop.protocol.vocab import FIRST_TEXT_ID, LLAMA_VOCAB_SIZE
from anygpt_desktop.robustness.corpus import Case, write_corpus

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 180.0
_EXCEPTION_REPR = re.compile(r"\((?:[A-Z]\w*(?:Error|Exception)|KeyError|IndexError|AttributeError)\b")


@dataclass
class Outcome:
    case: str
    entry: str
    status: str  # "error", "accepted", "crash", "hang"
    message: str = ""
    expect: str = "either"
    stray: list[str] = field(default_factory=list)
    injected: list[int] = field(default_factory=list)

    @property
    def surprising(self) -> bool:
        """Accepted where an error was expected (or the reverse): not a failure, but worth reading."""
        return (self.expect == "error" and self.status == "accepted") or (self.expect == "accept" and self.status == "error")

    def line(self) -> str:
        flags = []
        if self.stray:
            flags.append(f"STRAY {', '.join(self.stray[:3])}")
        if self.injected:
            flags.append(f"INJECTED ids {self.injected[:5]}")
        if self.surprising:
            flags.append(f"(expected {self.expect})")
        msg = " ".join(self.message.split())
        if len(msg) > 160:
            msg = msg[:157] + "..."
        return f"{self.status.upper():8} {self.entry:18} {self.case:40} {msg} {' '.join(flags)}".rstrip()


@dataclass
class Totals:
    inputs: int = 0
    errors: int = 0
    accepted: int = 0
    crashes: int = 0
    hangs: int = 0
    stray: int = 0
    injections: int = 0

    def add(self, o: Outcome) -> None:
        self.inputs += 1
        self.errors += o.status == "error"
        self.accepted += o.status == "accepted"
        self.crashes += o.status == "crash"
        self.hangs += o.status == "hang"
        self.stray += bool(o.stray)
        self.injections += bool(o.injected)

    @property
    def ok(self) -> bool:
        return self.crashes == self.hangs == self.stray == self.injections == 0

    def line(self) -> str:
        return (
            f"inputs {self.inputs}, clear errors {self.errors}, crashes {self.crashes}, hangs {self.hangs}, "
            f"stray writes {self.stray}, injections {self.injections} (accepted {self.accepted})"
        )


class Clear(Exception):
    """Raised by an entry point: the input was refused with this plain message."""


# ------------------------------------------------------------------------------------------------ sandbox


class Sandbox:
    """A private HOME / working / temp folder; ``changes()`` lists files written outside the output folder."""

    def __init__(self, root: Path, watched: list[Path]) -> None:
        self.root = root
        self.home, self.work, self.tmp, self.out = (root / n for n in ("home", "work", "tmp", "out"))
        for d in (self.home, self.work, self.tmp, self.out):
            d.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.new("RGB", (4, 4)).save(self.work / "history-media.png")  # the media a history case imports
        self.watched = [self.home, self.work, self.tmp, *watched]
        self._before: dict[str, tuple[int, int]] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        saved_env = {k: os.environ.get(k) for k in ("HOME", "TMPDIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
        saved_cwd, saved_tempdir = os.getcwd(), tempfile.tempdir
        os.environ.update(HOME=str(self.home), TMPDIR=str(self.tmp), XDG_DATA_HOME=str(self.home / ".local/share"),
                          XDG_CONFIG_HOME=str(self.home / ".config"), XDG_CACHE_HOME=str(self.home / ".cache"))
        tempfile.tempdir = str(self.tmp)
        os.chdir(self.work)
        try:
            yield
        finally:
            os.chdir(saved_cwd)
            tempfile.tempdir = saved_tempdir
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _snapshot(self) -> dict[str, tuple[int, int]]:
        files: dict[str, tuple[int, int]] = {}
        for top in self.watched:
            for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
                for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    p = os.path.join(dirpath, n)
                    try:
                        st = os.lstat(p)
                    except OSError:
                        continue
                    files[p] = (st.st_size, st.st_mtime_ns)
        return files

    def mark(self) -> None:
        self._before = self._snapshot()

    def changes(self, allowed: Path | None = None) -> list[str]:
        """Files new or changed since ``mark()``, outside the output folder and ``allowed`` (a history root)."""
        after = self._snapshot()
        keep = [str(self.out)] + ([str(allowed)] if allowed is not None else [])
        return sorted(os.path.relpath(p, self.root.parent) for p, sig in after.items()
                      if self._before.get(p) != sig and not any(p.startswith(k + os.sep) for k in keep))


# ------------------------------------------------------------------------------------------------ running


def run_with_deadline(fn: Callable[[], Any], timeout_s: float) -> tuple[str, Any]:
    """("ok", value) / ("raised", exception) / ("hang", None) — a thread with a deadline (it is left running)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # classified by the caller
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True, name="robustness-case")
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        return "hang", None
    if "exc" in box:
        return "raised", box["exc"]
    return "ok", box.get("value")


def _plain(message: str) -> bool:
    """A message for a person: not empty and not an exception's repr or a traceback."""
    return bool(message.strip()) and "Traceback" not in message and not _EXCEPTION_REPR.search(message)


def classify(case: Case, entry: str, kind: str, value: Any, clear_types: tuple[type[BaseException], ...]) -> Outcome:
    if kind == "hang":
        return Outcome(case.name, entry, "hang", "no answer before the deadline", case.expect)
    if kind == "raised":
        exc = value
        if isinstance(exc, Clear):
            status = "error" if _plain(str(exc)) else "crash"
            return Outcome(case.name, entry, status, str(exc), case.expect)
        if clear_types and isinstance(exc, clear_types) and _plain(str(exc)):
            return Outcome(case.name, entry, "error", f"{type(exc).__name__}: {exc}", case.expect)
        return Outcome(case.name, entry, "crash", f"uncaught {type(exc).__name__}: {exc}", case.expect)
    return Outcome(case.name, entry, "accepted", str(value or ""), case.expect)


# ------------------------------------------------------------------------------------------------ the harness


class _RecordingLoop:
    """Wraps the assistant's decode loop to keep the prompt ids of each run (the injection check)."""

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self.prompts: list[list[int]] = []

    def run(self, prompt_ids, *args, **kwargs):  # a transparent proxy
        self.prompts.append(list(prompt_ids))
        return self._loop.run(prompt_ids, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


def _special_ids(ids: list[int]) -> list[int]:
    """Ids that are not ordinary text: the LLaMA specials and every added (control or unit) id."""
    return sorted(i for i in ids if i < FIRST_TEXT_ID or i >= LLAMA_VOCAB_SIZE)


class Harness:
    """Everything the entry points need, built once: the tiny kit's assistant, speech tokenizer and CLI settings."""

    def __init__(self, kit: Path, sandbox: Sandbox, timeout_s: float) -> None:
        from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
        from anygpt_desktop.engine.decode_loop import DecodeSettings

        self.kit = kit
        self.sandbox = sandbox
        self.timeout_s = timeout_s
        decode = DecodeSettings(max_text_tokens=4, max_new_tokens=6, max_speech_units=30, max_music_units=40)
        self.assistant = Assistant(kit, settings=AssistantSettings(seed=0, output_dir=sandbox.out, decode=decode))
        self.assistant.load()
        self.recorder = _RecordingLoop(self.assistant._loop)
        self.assistant._loop = self.recorder
        from anygpt_desktop.protocol.vocab import EXPECTED_IDS

        self.eos = [EXPECTED_IDS["<eos>"]]
        self._baselines: dict[str, list[int]] = {}

    # -- injection check ---------------------------------------------------------------------------------------
    def injected(self, entry: str, make_prompt: Callable[[str], None], prompt: list[int]) -> list[int]:
        """Special ids in ``prompt`` that the same entry's prompt for the plain text "x" does not have."""
        if entry not in self._baselines:
            self.recorder.prompts.clear()
            make_prompt("x")
            if not self.recorder.prompts:
                raise RuntimeError(f"{entry}: the plain text 'x' produced no prompt")
            self._baselines[entry] = _special_ids(self.recorder.prompts[-1])
        got = _special_ids(prompt)
        base = list(self._baselines[entry])
        extra = []
        for i in got:
            if i in base:
                base.remove(i)
            else:
                extra.append(i)
        return extra


def _turn_events(harness: Harness, request: Any) -> str:
    from anygpt_desktop.engine.events import TurnDone, TurnFailed

    harness.assistant.clear()
    result = ""
    for ev in harness.assistant.turn(request, forced_ids=harness.eos):
        if isinstance(ev, TurnFailed):
            raise Clear(ev.reason)
        if isinstance(ev, TurnDone):
            result = "turn done"
    return result


def _base(harness: Harness, line_text: str) -> str:
    from anygpt_desktop.engine.base_tasks import run_base_task
    from anygpt_desktop.engine.events import TurnDone, TurnFailed
    from anygpt_desktop.protocol.cli_grammar import LineError, parse_base_line

    try:
        line = parse_base_line(line_text)
    except LineError as exc:
        raise Clear(str(exc)) from None
    # x -> text ends at once (a forced <eos>); text -> x opens its span at once and stops at the assistant's token
    # cap (6), so the span is too short to render: only the input path and the prompt are exercised
    forced = harness.eos if line.to_modality == "text" else None
    for ev in run_base_task(harness.assistant, line, rng=random.Random(0), forced_ids=forced):
        if isinstance(ev, TurnFailed):
            raise Clear(ev.reason)
        if isinstance(ev, TurnDone):
            return "task done"
    return ""


def _chat(harness: Harness, line_text: str) -> str:
    from anygpt_desktop.engine.cli_runners import chat_session

    harness.assistant.clear()
    out = io.StringIO()
    chat_session(harness.assistant, io.StringIO(line_text + "\n"), out)
    errors = [ln for ln in out.getvalue().splitlines() if ln.startswith("[error]")]
    if errors:
        raise Clear(errors[0][len("[error] "):])
    return "reply printed"


def _file_entries(case: Case, media: str) -> dict[str, Callable[[], Any]]:
    """Entry points for a file meant as ``media`` ("audio" or "image")."""
    from anygpt_desktop.input_files import classify_attachment

    p = case.path
    assert p is not None
    entries: dict[str, Callable[[], Any]] = {"attach": lambda: classify_attachment(p)}
    if media == "audio":
        entries["read_audio"] = lambda: _read_audio(p)
        entries["music_file"] = lambda: _music(p)
    else:
        entries["open_image"] = lambda: _open_image(p)
    return entries


def _read_audio(p: Path) -> str:
    from anygpt_desktop.audio.files import SPEECH_INPUT_MAX_SECONDS, read_audio

    a = read_audio(p, 16000, max_seconds=SPEECH_INPUT_MAX_SECONDS, method="sinc")
    return f"{a.duration_s:.2f} s from {a.source_format}"


def _music(p: Path) -> str:
    from anygpt_desktop.modalities.music.audio_file import load_music_file

    return f"{load_music_file(p).duration_s:.2f} s"


def _open_image(p: Path) -> str:
    from anygpt_desktop.modalities.image.image_input import open_image

    img = open_image(p)
    return f"{img.width}x{img.height} RGB"


def _clear_types() -> dict[str, tuple[type[BaseException], ...]]:
    from anygpt_desktop.audio.errors import AudioInputError
    from anygpt_desktop.engine.llm import ModelLoadError
    from anygpt_desktop.input_files import InputFileError
    from anygpt_desktop.modalities.image.image_input import ImageInputError
    from anygpt_desktop.modalities.image.seed_tokenizer import SeedError
    from anygpt_desktop.modalities.music.errors import MusicError
    from anygpt_desktop.modalities.speech.errors import SpeechError
    from anygpt_desktop.storage.history import HistoryError

    return {
        "attach": (InputFileError,),
        "read_audio": (AudioInputError,),
        "music_file": (MusicError,),
        "voice_prompt": (SpeechError,),
        "open_image": (ImageInputError,),
        "load_llm": (ModelLoadError,),
        "load_speechtokenizer": (SpeechError,),
        "load_soundstorm": (SpeechError,),
        "load_seed": (SeedError,),
        "load_encodec": (MusicError,),
        "history": (HistoryError,),
    }


def cases_entries(case: Case, harness: Harness) -> Iterator[tuple[str, Callable[[], Any]]]:
    """(entry name, call) for every entry point that takes this kind of input."""
    from anygpt_desktop.engine.requests import TurnRequest

    if case.kind in ("audio", "image", "path"):
        media = case.media or case.kind
        yield from _file_entries(case, media).items()
        p = str(case.path)
        if media == "audio":
            yield "voice_prompt", lambda: harness.assistant.media.voices.from_file(case.path) and "voice encoded"
            yield "turn speech file", lambda: _turn_events(harness, TurnRequest(speech_files=[case.path], output_modality="text"))
            yield "turn music", lambda: _turn_events(harness, TurnRequest(music=[case.path]))
            yield "chat speech", lambda: _chat(harness, f"interleaved||text|||{p}|")
            yield "base speech|text", lambda: _base(harness, f"speech|text|{p}")
            yield "base music|text", lambda: _base(harness, f"music|text|{p}")
        else:
            yield "turn image", lambda: _turn_events(harness, TurnRequest(images=[case.path]))
            yield "chat image", lambda: _chat(harness, f"interleaved|what is this?|||{p}||")
            yield "base image|text", lambda: _base(harness, f"image|text|{p}")
    elif case.kind == "text" and case.text is not None:
        text = case.text
        yield "turn text", lambda: _turn_events(harness, TurnRequest(text=text))
        yield "chat text", lambda: _chat(harness, "interleaved|" + text.replace("|", "/").replace("\n", " ") + "|text||||")
        yield "base text|image", lambda: _base(harness, "text|image|" + text.replace("\n", " "))
    elif case.kind == "recording":
        import numpy as np

        n = int(case.extra["seconds"] * 16000)
        t = np.arange(n, dtype=np.float32) / 16000
        wav = np.zeros(n, np.float32) if case.extra.get("silent") else (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
        yield "turn recording", lambda: _turn_events(harness, TurnRequest(speech=wav, output_modality="text"))
    elif case.kind == "model":
        loader = case.extra["loader"]
        if loader == "llm":
            from anygpt_desktop.engine.llm import load_llm

            yield "load_llm", lambda: load_llm(case.path, "cpu") and "loaded"
        elif loader == "speechtokenizer":
            from anygpt_desktop.modalities.speech.speechtokenizer import (
                load_speechtokenizer,
            )

            yield "load_speechtokenizer", lambda: load_speechtokenizer(case.path / "config.json", case.path / "ckpt.dev") and "loaded"
        elif loader == "soundstorm":
            from anygpt_desktop.modalities.speech.soundstorm import load_soundstorm

            yield "load_soundstorm", lambda: load_soundstorm(case.path) and "loaded"
        elif loader == "seed":
            yield "load_seed", lambda: _load_seed(case.path) and "loaded"
        elif loader == "encodec":
            from anygpt_desktop.modalities.music.codec import EncodecMusic

            yield "load_encodec", lambda: EncodecMusic.load(case.path) and "loaded"
    elif case.kind == "history":
        yield "history", lambda: _history(case, harness.sandbox)


def _load_seed(path: Path) -> Any:
    """The SEED quantizer checkpoint read the way the image tokenizer reads it."""
    from anygpt_desktop.modalities.image.seed_tokenizer import _load_state

    return _load_state(path, path.name)


def _history(case: Case, sandbox: Sandbox) -> str:
    from anygpt_desktop.storage import history as h

    fault = case.extra["fault"]
    root = case.path
    assert root is not None
    media = sandbox.work / "history-media.png"
    if not media.exists():
        from PIL import Image

        Image.new("RGB", (4, 4)).save(media)
    if fault == "readonly":
        root.chmod(0o555)
    patched = None
    if fault == "enospc":
        patched = h.shutil.copyfile

        def full_disk(src: Any, dst: Any, *a: Any, **k: Any) -> Any:
            Path(dst).write_bytes(Path(src).read_bytes()[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

        h.shutil.copyfile = full_disk  # type: ignore[assignment]
    try:
        store = h.HistoryStore(root)
        try:
            conv = store.create("robustness")
            store.append_turn(conv.id, "user", "hello", media=[("image", media)])
            turns = store.turns(conv.id)
        finally:
            store.close()
        return f"{len(turns)} turn(s) stored"
    except h.HistoryError as exc:
        partial = sorted(p.name for p in root.rglob("*.tmp"))
        if partial:  # the refusal is clear, but a half-written file stays behind: say so in the report
            raise h.HistoryError(f"{exc} [left behind: {', '.join(partial)}]") from exc
        raise
    finally:
        if patched is not None:
            h.shutil.copyfile = patched  # type: ignore[assignment]
        root.chmod(0o755)


# ------------------------------------------------------------------------------------------------ the CLIs


def _cli_lines(cases: list[Case]) -> tuple[bytes, bytes, int, int]:
    """stdin for ``chat`` and ``base`` with every path/text case (and a few bad files), and how many must fail."""
    chat: list[bytes] = []
    base: list[bytes] = []
    chat_fail = base_fail = 0
    for c in cases:
        if c.kind == "path" or (c.kind in ("audio", "image") and c.expect == "error"):
            media = c.media or c.kind
            if media == "audio":
                chat.append(f"interleaved|||||{c.path}|".encode())
                base.append(f"speech|text|{c.path}".encode())
            else:
                chat.append(f"interleaved|what is it?|||{c.path}||".encode())
                base.append(f"image|text|{c.path}".encode())
            chat_fail += c.expect == "error"
            base_fail += c.expect == "error"
        elif c.kind == "text" and c.stdin is not None:
            chat.append(c.stdin.rstrip(b"\n"))
            base.append(b"text|image|" + c.stdin.rstrip(b"\n"))
            chat_fail += 1
            base_fail += 1
        elif c.kind == "text" and c.text is not None and (c.expect == "error" or "\x00" in c.text or "forged" in c.name):
            t = c.text.replace("|", "/").encode()
            chat.append(t if t.strip() else b"interleaved| |text||||")
            if c.expect == "error" and t.strip():
                base.append(b"text|image|" + t)
                base_fail += 1
            chat_fail += c.expect == "error" and bool(t.strip())
    return b"\n".join(chat) + b"\nquit\n", b"\n".join(base) + b"\nquit\n", chat_fail, base_fail


def run_cli(command: str, stdin: bytes, must_fail: int, kit: Path, sandbox: Sandbox, timeout_s: float) -> Outcome:
    """Run ``anygpt-desktop <command>`` as a process on ``stdin``; crash = traceback/signal/odd exit code."""
    name = f"cli {command}"
    env = dict(os.environ, HOME=str(sandbox.home), TMPDIR=str(sandbox.tmp), PYTHONPATH=str(Path(__file__).resolve().parents[2]),
               XDG_DATA_HOME=str(sandbox.home / ".local/share"), XDG_CONFIG_HOME=str(sandbox.home / ".config"),
               XDG_CACHE_HOME=str(sandbox.home / ".cache"), HF_HUB_OFFLINE="1")
    argv = [sys.executable, "-m", "anygpt_desktop", command, "--models", str(kit), "--output-dir", str(sandbox.out),
            "--seed", "0", "--device", "cpu", "--max-tokens", "4"]
    lines = stdin.count(b"\n") - 1
    case_name = f"{lines} lines on stdin"
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout_s, cwd=sandbox.work, env=env, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(case_name, name, "hang", f"no exit within {timeout_s:.0f} s")
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    errors = [ln for ln in out.splitlines() if ln.startswith("[error]")]
    if proc.returncode < 0:
        return Outcome(case_name, name, "crash", f"killed by signal {-proc.returncode}")
    if "Traceback" in err or "Traceback" in out or proc.returncode not in (0, 1):
        tail = (err or out).strip().splitlines()[-1:] or [""]
        return Outcome(case_name, name, "crash", f"exit {proc.returncode}: {tail[0]}")
    unclear = [e for e in errors if not _plain(e)]
    if unclear:
        return Outcome(case_name, name, "crash", f"unclear message: {unclear[0]}")
    if len(errors) < must_fail:
        return Outcome(case_name, name, "crash", f"only {len(errors)} of {must_fail} bad lines were reported")
    return Outcome(case_name, name, "error", f"exit {proc.returncode}, {len(errors)} clear [error] lines, no traceback", "error")


# ------------------------------------------------------------------------------------------------ the report


def run_report(
    work: Path,
    kit: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    emit: Callable[[str], None] = print,
    with_cli: bool = True,
    only: str | None = None,
) -> Totals:
    """Write the corpus under ``work``, run every case through every entry point, print a line each and the totals."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    if kit is None:
        from anygpt_desktop.tiny_kit import make_tiny

        kit = work / "tiny_kit"
        if not (kit / "AnyGPT-chat" / "config.json").is_file():
            make_tiny(kit, seed=0)
    corpus_dir = work / "corpus"
    cases = write_corpus(corpus_dir, kit)
    if only:
        wanted = [w for w in only.split(",") if w]
        cases = [c for c in cases if any(w in c.name for w in wanted)]
    sandbox = Sandbox(work / "sandbox", watched=[corpus_dir, kit])
    totals = Totals()
    clear_types = _clear_types()

    def record(o: Outcome) -> None:
        totals.add(o)
        emit(o.line())

    with sandbox.active():
        harness = Harness(kit, sandbox, timeout_s)
        for case in cases:
            for entry, call in cases_entries(case, harness):
                sandbox.mark()
                harness.recorder.prompts.clear()
                kind, value = run_with_deadline(call, timeout_s)
                outcome = classify(case, entry, kind, value, clear_types.get(entry, ()))
                outcome.stray = sandbox.changes(case.path if case.kind == "history" else None)
                marker = case.extra.get("marker")
                if marker and Path(marker).exists():
                    outcome.stray.append(f"{marker} (the pickle ran code)")
                    Path(marker).unlink()
                if case.kind == "text" and harness.recorder.prompts:
                    prompt = harness.recorder.prompts[-1]
                    outcome.injected = harness.injected(entry, _prompt_maker(harness, entry), prompt)
                record(outcome)
                if kind == "hang":
                    logger.error("%s via %s did not finish; its thread is left behind", case.name, entry)
    if with_cli:
        chat_in, base_in, chat_fail, base_fail = _cli_lines(cases)
        for command, data, fails in (("chat", chat_in, chat_fail), ("base", base_in, base_fail)):
            sandbox.mark()
            o = run_cli(command, data, fails, kit, sandbox, max(timeout_s, 600.0))
            o.stray = sandbox.changes()
            record(o)
    emit(totals.line())
    return totals


def _prompt_maker(harness: Harness, entry: str) -> Callable[[str], None]:
    from anygpt_desktop.engine.requests import TurnRequest

    if entry == "turn text":
        return lambda t: _turn_events(harness, TurnRequest(text=t))
    if entry == "chat text":
        return lambda t: _chat(harness, f"interleaved|{t}|text||||")
    return lambda t: _base(harness, "text|image|" + t)


__all__ = ["Outcome", "Sandbox", "Totals", "classify", "run_report", "run_with_deadline"]
