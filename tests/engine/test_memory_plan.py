"""The memory plan: sizes from the manifests, per-precision arithmetic, and ``models plan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from anygpt_desktop.cli import main as cli_main
from anygpt_desktop.engine import memory_plan as mp
from anygpt_desktop.engine.llm_manifest import ANYGPT_CHAT_CONFIG
from anygpt_desktop.engine.quantize import quantize_model
from anygpt_desktop.tiny_kit.llm import TINY_LLM_CONFIG

GiB = mp.GiB


def test_shipped_sizes_are_the_manifests_sums(reference_dir: Path) -> None:
    manifests = reference_dir / "manifests"
    if not manifests.is_dir():
        from prerequisites import missing_prerequisite  # part of the shared reference kit: a failure in CI

        missing_prerequisite(f"reference manifests not found at {manifests}")
    assert mp.sizes_from_manifests(manifests) == mp.load_sizes()
    for stem in ("anygpt_chat_llama", "soundstorm", "speechtokenizer"):
        data = json.loads((manifests / f"{stem}.json").read_text())
        name = mp.COMPONENTS[stem][0]
        assert mp.load_sizes()["parts"][name][stem] == data["num_elements"]


def test_llm_breakdown_matches_the_model_built_on_meta() -> None:
    sizes = mp.load_sizes()
    assert sizes["llm"] == mp.llm_sizes_for_config(ANYGPT_CHAT_CONFIG)
    assert mp.llm_bytes(sizes, "bf16") == 2 * sizes["components"][mp.LLM]["elements"] == 2 * 6_914_707_456
    assert mp.llm_bytes(sizes, "fp32") == 4 * 6_914_707_456
    assert mp.kv_cache_bytes(sizes) == 2 * 32 * 4096 * 4096 * 2


@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_quantized_llm_bytes_equal_a_real_quantized_model(precision: str) -> None:
    from transformers import LlamaForCausalLM

    from anygpt_desktop.engine.llm_manifest import llama_config

    config = {**TINY_LLM_CONFIG, "hidden_size": 128, "intermediate_size": 384, "vocab_size": 512}
    model = LlamaForCausalLM(llama_config(config)).to(torch.bfloat16)
    quantize_model(model, precision, dtype=torch.bfloat16)  # type: ignore[arg-type]
    actual = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert mp.llm_bytes({"llm": mp.llm_sizes_for_config(config)}, precision) == actual


def test_twelve_gib_fits_with_int8_not_with_bf16() -> None:
    plan = mp.plan_memory(12 * GiB, "int8", "cuda")
    assert plan.fits
    resident = {i.name for i in plan.items if i.resident}
    assert {mp.LLM, "SpeechTokenizer", "SoundStorm"} <= resident
    assert not mp.plan_memory(12 * GiB, "bf16", "cuda").fits
    assert mp.choose_precision(12 * GiB, "cuda") == "int8"
    assert mp.choose_precision(24 * GiB, "cuda") == "bf16"
    unclip = next(i for i in mp.plan_memory(12.5 * GiB, "int8", "cuda").items if i.name == mp.UNCLIP)
    assert not unclip.resident and unclip.where == "CPU offload"


def test_models_plan_vram_12(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["models", "plan", "--vram", "12"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "the assistant fits in 12.0 GiB with the LLM in int8" in out
    llm_gib = mp.llm_bytes(mp.load_sizes(), "int8") / GiB
    assert f"{llm_gib:.2f} GiB" in out and "KV cache (4096 tokens)" in out and "SoundStorm" in out


def test_models_plan_says_when_it_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["models", "plan", "--vram", "8", "--precision", "bf16"]) == 1
    assert "does NOT fit" in capsys.readouterr().out
