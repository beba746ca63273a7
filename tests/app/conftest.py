"""Qt tests run offscreen; every test gets its own history and settings folders (tests/conftest.py sets XDG_*)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
