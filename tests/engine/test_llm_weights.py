"""Loading the LLM shard by shard into a meta-built model, and the converted safetensors copy."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from anygpt_desktop.bench.fullsize_checkpoint import write_random_llm
from anygpt_desktop.engine import llm_weights
from anygpt_desktop.engine.llm import ModelLoadError, load_llm
from anygpt_desktop.engine.quantize import Int4Linear, Int8Linear
from anygpt_desktop.tiny_kit.llm import TINY_LLM_CONFIG, write_tiny_llm

IDS = torch.tensor([[1, 5, 300, 4000, 41000, 41222]])


@pytest.fixture
def tiny_llm(tmp_path: Path) -> Path:
    return write_tiny_llm(tmp_path, seed=3)


def _logits(folder: Path, **kw) -> torch.Tensor:
    with torch.no_grad():
        return load_llm(folder, "cpu", **kw).model(IDS).logits.float()


def _hf_logits(folder: Path) -> torch.Tensor:
    from transformers import LlamaForCausalLM

    with torch.no_grad():
        return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()(IDS).logits


def test_fp32_stream_load_equals_transformers(tiny_llm: Path) -> None:
    llm = load_llm(tiny_llm, "cpu", precision="auto", convert=False)
    assert llm.precision == "fp32" and llm.dtype == torch.float32  # auto keeps a small model in full precision
    with torch.no_grad():
        assert torch.equal(llm.model(IDS).logits, _hf_logits(tiny_llm))
    assert not (tiny_llm / "converted").exists()


@pytest.mark.parametrize("precision", ["bf16", "int8", "int4"])
def test_converted_copy_loads_the_same_model(tiny_llm: Path, precision: str) -> None:
    first = load_llm(tiny_llm, "cpu", precision=precision)
    folders = list((tiny_llm / "converted").iterdir())
    assert [f.name.split("-")[0] for f in folders] == [precision]
    meta = json.loads((folders[0] / llm_weights.CONVERTED_META).read_text())
    assert meta["source"] == ["pytorch_model.bin"] and all((folders[0] / f).is_file() for f in meta["files"])
    second = load_llm(tiny_llm, "cpu", precision=precision)
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if precision != "bf16":
        layer = second.model.model.layers[0].mlp.down_proj
        assert isinstance(layer, Int8Linear if precision == "int8" else Int4Linear)
        assert isinstance(second.model.lm_head, Int8Linear)
    with torch.no_grad():
        assert torch.equal(first.model(IDS).logits, second.model(IDS).logits)


def test_converted_copy_is_used_while_the_source_is_unchanged(tiny_llm: Path) -> None:
    load_llm(tiny_llm, "cpu", precision="int8")
    source = tiny_llm / "pytorch_model.bin"
    stat = source.stat()
    source.write_bytes(b"\0" * stat.st_size)  # same size and mtime: the copy is used, the pickle never opened
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_llm(tiny_llm, "cpu", precision="int8").precision == "int8"
    source.write_bytes(b"")  # a changed source is never served from the stale copy
    with pytest.raises(ModelLoadError, match="not a readable checkpoint|could not load"):
        load_llm(tiny_llm, "cpu", precision="int8")


def test_changed_source_is_reconverted(tiny_llm: Path, tmp_path: Path) -> None:
    before = _logits(tiny_llm, precision="int8")
    old = {p.name for p in (tiny_llm / "converted").iterdir()}
    other = write_tiny_llm(tmp_path / "other", seed=4)
    shutil.copyfile(other / "pytorch_model.bin", tiny_llm / "pytorch_model.bin")
    after = _logits(tiny_llm, precision="int8")
    new = {p.name for p in (tiny_llm / "converted").iterdir()}
    assert not torch.equal(before, after)
    assert len(new) == 1 and new.isdisjoint(old)  # the stale copy is gone
    assert torch.allclose(after, _logits(other, precision="int8", convert=False))


def test_interrupted_conversion_is_never_used(tiny_llm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors import torch as st_torch

    calls = {"n": 0}
    real = st_torch.save_file

    def dies(*args, **kwargs):
        calls["n"] += 1
        real(*args, **kwargs)
        raise KeyboardInterrupt  # the process is stopped after the file is written, before the rename

    monkeypatch.setattr(st_torch, "save_file", dies)
    with pytest.raises(KeyboardInterrupt):
        load_llm(tiny_llm, "cpu", precision="int8")
    monkeypatch.setattr(st_torch, "save_file", real)
    files = llm_weights.checkpoint_files(tiny_llm)
    assert calls["n"] == 1
    assert llm_weights.find_converted(tiny_llm, "int8", llm_weights.source_fingerprint(files)) is None
    leftovers = [p.name for p in (tiny_llm / "converted").iterdir()]
    assert len(leftovers) == 1 and f".part-{os.getpid()}" in leftovers[0]
    os.rename(tiny_llm / "converted" / leftovers[0], tiny_llm / "converted" / leftovers[0].replace(str(os.getpid()), "999999999"))
    load_llm(tiny_llm, "cpu", precision="int8")  # converts again; the dead process's .part folder is removed
    assert [".part" in p.name for p in (tiny_llm / "converted").iterdir()] == [False]


def test_disk_full_keeps_loading_from_the_bin(
    tiny_llm: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    from safetensors import torch as st_torch

    monkeypatch.setattr(st_torch, "save_file", full)
    llm = load_llm(tiny_llm, "cpu", precision="int8")
    assert llm.precision == "int8"
    assert "the disk is full" in caplog.text
    assert not any((tiny_llm / "converted").iterdir())


def test_sharded_bin_with_index_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import anygpt_desktop.bench.fullsize_checkpoint as fc

    monkeypatch.setattr(fc, "ANYGPT_CHAT_CONFIG", {**TINY_LLM_CONFIG})
    folder = write_random_llm(tmp_path / "AnyGPT-chat", layers=2, dtype=torch.float16, shard_bytes=8 << 20)
    files = llm_weights.checkpoint_files(folder)
    assert len(files) > 1 and all(f.name.startswith("pytorch_model-") for f in files)
    llm = load_llm(folder, "cpu", precision="fp16", convert=False)
    sd = llm.model.state_dict()
    for f in files:
        for key, value in torch.load(f, weights_only=True).items():
            assert torch.equal(sd[key], value)


def test_missing_tensor_is_a_clear_error(tiny_llm: Path) -> None:
    sd = torch.load(tiny_llm / "pytorch_model.bin", weights_only=True)
    del sd["model.layers.1.mlp.up_proj.weight"]
    torch.save(sd, tiny_llm / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="lacks .*up_proj.weight"):
        load_llm(tiny_llm, "cpu", precision="int8", convert=False)


def test_unknown_precision_is_a_clear_error(tiny_llm: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown precision"):
        load_llm(tiny_llm, "cpu", precision="int3")
