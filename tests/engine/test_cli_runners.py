"""The chat and base CLIs on the tiny kit, as a user runs them (a real process reading stdin)."""

import subprocess
import sys
from pathlib import Path

import soundfile as sf
from PIL import Image
import pytest

pytestmark = pytest.mark.slow


def _run(args, stdin, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "anygpt_desktop", *args],
        input=stdin, capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    return proc


def test_base_cli_text_to_speech_and_image(tiny_models, tmp_path):
    out = tmp_path / "out"
    proc = _run(["base", "--models", str(tiny_models), "--output-dir", str(out), "--seed", "1"],
                "text|speech|Hello there\ntext|image|a red/../../cat\n", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wavs = list(out.glob("*-speech.wav"))
    pngs = list(out.glob("*-image.png"))
    assert len(wavs) == 1 and len(pngs) == 1, proc.stdout
    data, rate = sf.read(wavs[0])
    assert rate == 16000 and len(data) > 0 and len(data) % 320 == 0
    assert Image.open(pngs[0]).size == (64, 64)
    assert "Hello-there" in wavs[0].name
    assert pngs[0].parent == out  # the "/../.." in the caption did not escape the folder
    assert not list(tmp_path.glob("cat*"))


def test_chat_cli_with_a_spoken_instruction_file(tiny_models, tmp_path):
    speech = Path(__file__).resolve().parents[1] / "data" / "speech_beach_16k.wav"
    out = tmp_path / "out"
    lines = f"interleaved||speech|||{speech}\n|clear\nplain typed text\nquit\n"
    proc = _run(["chat", "--models", str(tiny_models), "--output-dir", str(out), "--seed", "2"], lines, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[history cleared]" in proc.stdout
    wavs = list(out.glob("*-speech.wav"))
    assert len(wavs) == 1
    assert sf.info(wavs[0]).samplerate == 16000


def test_bad_lines_and_missing_models_are_reported(tiny_models, tmp_path):
    (tmp_path / "photos").mkdir()
    stdin = "audio|text|x.wav\nimage|text|missing.png\nimage|text|photos\nspeech|text|photos\n"
    proc = _run(["base", "--models", str(tiny_models), "--output-dir", str(tmp_path)], stdin, tmp_path)
    assert proc.returncode == 1
    assert "unsupported task audio|text" in proc.stdout and "'missing.png' does not exist" in proc.stdout
    # a folder is called a folder (it used to be reported as "input file not found")
    assert proc.stdout.count("'photos' is a folder, not a") == 2 and "not found" not in proc.stdout
    proc = _run(["chat", "--models", str(tiny_models), "--output-dir", str(tmp_path), "--max-tokens", "4"],
                "interleaved|what is it?|||photos||\n", tmp_path)
    assert proc.returncode == 1 and "'photos' is a folder, not a image file" not in proc.stdout
    assert "'photos' is a folder, not an image file" in proc.stdout
    proc = _run(["chat", "--models", str(tmp_path / "empty")], "hi\n", tmp_path)
    assert proc.returncode == 2 and "model manager" in proc.stderr


def test_the_cli_offers_exactly_the_loader_precisions() -> None:
    from anygpt_desktop.cli import PRECISIONS
    from anygpt_desktop.engine.llm import PRECISION_CHOICES

    assert PRECISIONS == PRECISION_CHOICES
