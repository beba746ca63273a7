"""The chat and base CLIs on the tiny kit, as a user runs them (a real process reading stdin), and the command line's
own terms: its ways out of a missing model, ``--demo`` for every subcommand, the input formats in ``--help``."""

import subprocess
import sys
from pathlib import Path

import soundfile as sf
from PIL import Image
import pytest

from anygpt_desktop.cli import build_parser, main
from anygpt_desktop.engine.cli_runners import cli_message

slow = pytest.mark.slow


def _run(args, stdin, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "anygpt_desktop", *args],
        input=stdin, capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    return proc


@slow
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


@slow
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


@slow
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
    assert proc.returncode == 2 and "model manager" not in proc.stderr
    assert f"anygpt-desktop models download --models {tmp_path / 'empty'}" in proc.stderr
    assert "--models DIR" in proc.stderr and "--demo" in proc.stderr


@slow
def test_demo_base_runs_on_the_demo_models_without_progress_bars(tmp_path):
    """The README's base example with --demo, before and after the subcommand; stderr is a pipe: no tqdm bars."""
    import os

    demo_dir = Path(os.environ["XDG_DATA_HOME"]) / "anygpt-desktop" / "demo-models"
    for n, args in enumerate((["--demo", "base"], ["base", "--demo"])):
        out = tmp_path / f"out{n}"
        proc = _run([*args, "--output-dir", str(out)], "text|speech|Hello there\n", tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert len(list(out.glob("*-speech.wav"))) == 1
        assert str(demo_dir) in proc.stderr  # the demo kit is what was loaded
        assert "it/s]" not in proc.stderr and "%|" not in proc.stderr, proc.stderr[-2000:]
    assert (demo_dir / "AnyGPT-chat" / "config.json").is_file()


def test_model_manager_advice_becomes_the_command_lines_ways_out():
    llm = "no language model at /m/AnyGPT-chat (config.json missing): download it in the model manager"
    media = "the SoundStorm model is missing (/m/soundstorm/x.pt); open the model manager to download it"
    for message in (llm, media):
        text = cli_message(message, Path("/m"))
        assert "model manager" not in text
        assert "anygpt-desktop models download --models /m" in text and "--models DIR" in text and "--demo" in text
    assert cli_message(llm).splitlines()[0] == "no language model at /m/AnyGPT-chat (config.json missing)."
    assert "models download\n" in cli_message(llm)  # the default folder needs no --models
    assert cli_message("unsupported task x|y") == "unsupported task x|y"  # other errors are left alone


@pytest.mark.parametrize("argv", [["models", "download", "--demo"], ["--demo", "models", "make-tiny", "d"],
                                  ["verify-reference", "ref", "--demo"], ["base", "--demo", "--models", "m"]])
def test_demo_where_it_cannot_apply_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "--demo" in capsys.readouterr().err


def test_demo_points_every_model_command_at_the_demo_kit(monkeypatch):
    import anygpt_desktop.tiny_kit.demo as demo

    written = []
    monkeypatch.setattr(demo, "ensure_demo_kit", lambda root: written.append(root) or root)
    from anygpt_desktop.cli import apply_demo

    parser = build_parser()
    for argv in (["--demo", "chat"], ["base", "--demo"], ["models", "status", "--demo"], ["bench", "turn", "--demo"]):
        args = parser.parse_args(argv)
        apply_demo(args, parser)
        assert Path(args.models) == demo.demo_models_dir(), argv
    assert len(written) == 4
    args = parser.parse_args(["--demo"])  # the window handles --demo itself
    apply_demo(args, parser)
    assert args.models is None


@pytest.mark.parametrize("command, formats", [
    ("chat", ["task|text|output modality|voice prompt|images|speech files|music files", "plain text", "examples:",
              "interleaved||speech|||question.wav"]),
    ("base", ["modality|to_modality|data[|voice prompt]", "text|image|a cat on a sofa", "speech|text|question.wav",
              "examples:"]),
])
def test_help_documents_the_input_line_formats(command, formats, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    for text in formats:
        assert text in out, out


def test_the_cli_offers_exactly_the_loader_precisions() -> None:
    from anygpt_desktop.cli import PRECISIONS
    from anygpt_desktop.engine.llm import PRECISION_CHOICES

    assert PRECISIONS == PRECISION_CHOICES
