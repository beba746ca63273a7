from __future__ import annotations

from pathlib import Path

import pytest

from anygpt_desktop.engine_process import EngineOptions, RemoteAssistant

from engine_doubles import DOUBLES, tiny_settings


@pytest.fixture
def make_remote(tiny_models: Path, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Builds RemoteAssistants on the tiny kit (scripted engine); each is shut down at the end of the test."""
    made: list[RemoteAssistant] = []

    def make(**options) -> RemoteAssistant:  # type: ignore[no-untyped-def]
        defaults = dict(cancel_timeout_s=60.0, assistant_factory=DOUBLES)
        defaults.update(options)
        remote = RemoteAssistant(tiny_models, device="cpu", settings=tiny_settings(tmp_path_factory.mktemp("out")),
                                 options=EngineOptions(**defaults))
        made.append(remote)
        return remote

    yield make
    for remote in made:
        remote.shutdown()
