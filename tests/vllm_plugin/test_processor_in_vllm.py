"""The AnyGPT logits processor inside vLLM's own classes, in a separate cached environment with vLLM installed
(``scripts/vllm_env.sh``: about a minute with a warm package cache, a few minutes otherwise; reused afterwards)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from prerequisites import missing_prerequisite
from recorded import recorded_turns
from replay import Case, save_cases

pytestmark = pytest.mark.slow


@pytest.fixture
def recorded_cases(tiny_models: Path) -> list[Case]:
    return list(recorded_turns(tiny_models))

REPO_ROOT = Path(__file__).resolve().parents[2]
# read at import, before each test's isolation points XDG_CACHE_HOME at a temporary folder: the environment is cached
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _vllm_python() -> str:
    env = {**os.environ, "ANYGPT_VLLM_ENV": os.environ.get("ANYGPT_VLLM_ENV")
           or str(USER_CACHE / "anygpt-desktop" / "vllm-env-0.33.0")}
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "vllm_env.sh")], capture_output=True, text=True,
                         env=env, timeout=1800)
    if out.returncode != 0:
        missing_prerequisite(f"vLLM's environment could not be created (scripts/vllm_env.sh):\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def test_the_processor_in_vllms_batch_and_sampler_equals_the_apps_grammar(recorded_cases: list[Case],
                                                                          tmp_path: Path) -> None:
    python = _vllm_python()
    folder = save_cases(recorded_cases, tmp_path / "cases")
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(here)]), "VLLM_LOGGING_LEVEL": "ERROR"}
    out = subprocess.run([python, str(here / "vllm_env_checks.py"), str(folder)], capture_output=True, text=True,
                         env=env, timeout=900)
    report = out.stdout + out.stderr[-4000:]
    assert out.returncode == 0, report
    rows = sum(len(c.ids) for c in recorded_cases)
    assert f"checked {rows} rows" in out.stdout, report
    assert "refused as VLLMValidationError" in out.stdout, report  # vLLM answers such a request with HTTP 400
