"""The CLIs' input handling before any model runs: undecodable lines, files that are folders, over-long text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from anygpt_desktop.engine.cli_runners import base_session, chat_session
from anygpt_desktop.protocol.prompts import MAX_USER_TEXT_CHARS, UserTextTooLongError, base_prompt, interleaved_user_message


def _stdin(data: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")


def test_chat_reports_bad_bytes_and_folders_and_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    stdin = _stdin(b"hello \xff\xfe world\n"
                   + f"interleaved|what is it?|||{tmp_path / 'photos'}||\n".encode()
                   + f"interleaved||text||||{tmp_path / 'gone.wav'}\n".encode()
                   + b"quit\n")
    out = io.StringIO()
    assert chat_session(None, stdin, out) == 1  # type: ignore[arg-type] - no line reaches the assistant
    lines = out.getvalue().splitlines()
    assert lines[0] == "[error] input line 1 is not valid UTF-8 text (byte 6); it was skipped"
    assert lines[1] == f"[error] '{tmp_path / 'photos'}' is a folder, not an image file; choose a file inside it"
    assert lines[2] == f"[error] the music file '{tmp_path / 'gone.wav'}' does not exist"


def test_base_reports_bad_bytes_and_unsupported_tasks() -> None:
    out = io.StringIO()
    assert base_session(None, _stdin(b"text|image|\xc3\x28\naudio|text|x\nquit\n"), out) == 1  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[error] input line 1 is not valid UTF-8 text")
    assert lines[1].startswith("[error] unsupported task audio|text")


def test_typed_text_has_a_named_limit() -> None:
    interleaved_user_message("x" * MAX_USER_TEXT_CHARS)
    with pytest.raises(UserTextTooLongError, match=f"limit is {MAX_USER_TEXT_CHARS:,} characters"):
        interleaved_user_message("x" * (MAX_USER_TEXT_CHARS + 1))
    with pytest.raises(UserTextTooLongError, match="1,048,576 characters long"):
        base_prompt("text", "Draw it.", "y" * 1_048_576)
