"""What a test needs from the machine: ``missing_prerequisite`` skips with the reason locally and fails under
``CI=true`` (CI must run every test). A module of its own so that every test can import it by a name no other
folder's ``conftest`` shadows (``tests/`` is on ``sys.path`` through the root conftest)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing_prerequisite(reason: str) -> None:
    """Skip the test saying why; in CI (``CI=true``) fail it instead, since CI must run every test."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing prerequisite is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)
