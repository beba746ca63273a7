"""What is wrong with a path the user gave as an input file, said plainly (stdlib only: every room may use it).

Every reader (audio, images, music, voice prompts) and the CLIs check a path with :func:`path_problem` first, so a
folder is called a folder, a dangling link a dangling link and a link loop a loop, not "file not found".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class InputFileError(ValueError):
    """A path the user gave cannot be used as an input file; ``str(error)`` says why."""


def path_problem(path: str | os.PathLike[str], what: str = "file") -> str | None:
    """A sentence saying why ``path`` cannot be read as a ``what`` (e.g. "audio file"), or None when it can."""
    text = os.fspath(path)
    if not text.strip():
        return f"no {what} was given (the path is empty)"
    if "\x00" in text:
        return f"the {what} name contains a NUL character, which no file name can hold"
    p = Path(text)
    a_what = ("an " if what[:1] in "aeiou" else "a ") + what
    try:
        st = p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"'{p}' is a link that points back to itself (a symbolic link loop), not {a_what}"
        if exc.errno == errno.ENAMETOOLONG:
            return f"the {what} name is too long for this system ({len(text)} characters)"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"'{p}' cannot be opened: permission denied"
        if p.is_symlink():
            return f"'{p}' is a link to '{os.readlink(p)}', which does not exist"
        if exc.errno == errno.ENOTDIR:
            return f"'{p}' does not exist (a part of the path is a file, not a folder)"
        return f"the {what} '{p}' does not exist"
    except ValueError as exc:  # e.g. characters the platform cannot encode
        return f"'{text}' is not a usable file name ({exc})"
    if stat.S_ISDIR(st.st_mode):
        return f"'{p}' is a folder, not {a_what}; choose a file inside it"
    if not stat.S_ISREG(st.st_mode):
        return f"'{p}' is not a regular file (it is a device, pipe or socket), so it cannot be used as {a_what}"
    if not os.access(p, os.R_OK):
        return f"'{p}' cannot be opened: permission denied"
    return None


def check_input_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """``Path(path)`` when it names a readable regular file; else :class:`InputFileError` saying what is true."""
    problem = path_problem(path, what)
    if problem is not None:
        raise InputFileError(problem)
    return Path(path)
