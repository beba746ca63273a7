"""What the app says about paths that are not usable files, and the attachment check the window calls."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from anygpt_desktop.input_files import InputFileError, check_input_file, classify_attachment, path_problem


def test_each_path_problem_is_named_for_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone.wav")
    good = tmp_path / "ok.wav"
    good.write_bytes(b"x")
    assert "is a folder, not an audio file" in path_problem(tmp_path / "folder.wav", "audio file")
    assert "symbolic link loop" in path_problem(tmp_path / "a", "audio file")
    assert "which does not exist" in path_problem(tmp_path / "dangling", "audio file")
    assert "does not exist" in path_problem(tmp_path / "missing.wav", "audio file")
    assert "NUL character" in path_problem("bad\x00name.wav", "audio file")
    assert "path is empty" in path_problem("  ", "image file")
    assert "a part of the path is a file" in path_problem(good / "inside.wav", "audio file")
    assert path_problem(good, "audio file") is None
    (tmp_path / "x").mkdir()
    assert check_input_file(tmp_path / "x" / ".." / "ok.wav") == tmp_path / "x" / ".." / "ok.wav"
    with pytest.raises(InputFileError, match="is a folder, not an image file"):
        check_input_file(tmp_path / "folder.wav", "image file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_pipe_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.wav")
    assert "not a regular file" in path_problem(tmp_path / "pipe.wav", "audio file")


def test_attachments_are_checked_by_content(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), "red").save(tmp_path / "ok.png")
    sf.write(tmp_path / "ok.wav", 0.3 * np.sin(np.arange(8000) / 5.0), 16000)
    assert classify_attachment(tmp_path / "ok.png") == "image"
    assert classify_attachment(tmp_path / "ok.wav") == "audio"
    (tmp_path / "fake.png").write_text("not an image")
    (tmp_path / "fake.wav").write_text("not audio")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "d.svg").write_text("<svg/>")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputFileError, match="not an image in a format this app can read"):
        classify_attachment(tmp_path / "fake.png")
    with pytest.raises(InputFileError, match="could not be read as audio"):
        classify_attachment(tmp_path / "fake.wav")
    with pytest.raises(InputFileError, match=r"empty \(0 bytes\)"):
        classify_attachment(tmp_path / "empty.png")
    with pytest.raises(InputFileError, match="SVG drawing"):
        classify_attachment(tmp_path / "d.svg")
    with pytest.raises(InputFileError, match="only images and audio files"):
        classify_attachment(tmp_path / "notes.txt")
    with pytest.raises(InputFileError, match="is a folder"):
        classify_attachment(tmp_path)
