"""The assistant a test server runs: the engine-process test double (``[hold]`` etc.) with short tiny-kit replies."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine_process"))

from engine_doubles import ScriptedAssistant, tiny_settings

FACTORY = "serve_doubles:build"


def build(models_dir: str, device: str | None) -> ScriptedAssistant:
    out = Path(models_dir).parent / "serve-outputs"
    return ScriptedAssistant(Path(models_dir), device=device or "cpu", settings=tiny_settings(out))
