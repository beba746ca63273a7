"""The manifest and the model store: status of a models folder, and downloads from a local server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _store_server import FileServer, payload, sha256

from anygpt_desktop import layout
from anygpt_desktop.engine import model_store
from anygpt_desktop.engine.downloader import NotFoundError, part_path
from anygpt_desktop.engine.model_manifest import (
    ManifestError,
    hf_endpoint,
    hub_url,
    load_manifest,
    RepoRef,
)
from anygpt_desktop.engine.model_store import FileState


# ------------------------------------------------------------------------------------------- bundled manifest


def test_bundled_manifest_matches_the_layout() -> None:
    m = load_manifest()
    dests = {f.dest for c in m.components for f in c.files}
    for fixed in (
        layout.SPEECHTOKENIZER_CKPT,
        layout.SPEECHTOKENIZER_CONFIG,
        layout.SOUNDSTORM_CKPT,
        layout.SEED_QUANTIZER,
        layout.EVA_VIT_G,
    ):
        assert fixed in dests, fixed
    assert m.get("chat").dest_dir == layout.CHAT_LLM
    assert m.get("base").dest_dir == layout.BASE_LLM
    assert m.get("encodec").dest_dir == layout.ENCODEC_32K
    assert m.get("unclip").dest_dir == layout.UNCLIP
    assert not m.get("base").required
    assert {c.name for c in m.required()} == {
        "chat", "speechtokenizer", "soundstorm", "seed-tokenizer", "eva-vit-g", "encodec", "unclip"
    }


def test_bundled_manifest_unclip_skips_image_encoder_and_has_what_the_pipeline_needs() -> None:
    unclip = load_manifest().get("unclip")
    folders = {f.path.split("/")[0] for f in unclip.files if "/" in f.path}
    assert folders == {
        "scheduler", "image_noising_scheduler", "image_normalizer", "tokenizer", "text_encoder", "unet", "vae"
    }
    assert any(f.path == "model_index.json" for f in unclip.files)
    assert [s.repo for s in unclip.sources] == [
        "stabilityai/stable-diffusion-2-1-unclip", "sd2-community/stable-diffusion-2-1-unclip"
    ]


def test_bundled_manifest_checksums_are_well_formed_or_absent() -> None:
    for comp in load_manifest().components:
        for f in comp.files:
            assert f.sha256 is None or len(f.sha256) == 64
            assert f.size is None or f.size > 0


def test_endpoint_override_and_url_shape(monkeypatch) -> None:
    monkeypatch.delenv("ANYGPT_HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert hf_endpoint() == "https://huggingface.co"
    assert hub_url(RepoRef("fnlp/AnyGPT-chat", "main"), "config.json") == (
        "https://huggingface.co/fnlp/AnyGPT-chat/resolve/main/config.json"
    )
    monkeypatch.setenv("HF_ENDPOINT", "http://hf-mirror.example")
    assert hf_endpoint() == "http://hf-mirror.example"
    monkeypatch.setenv("ANYGPT_HF_ENDPOINT", "http://127.0.0.1:9/")
    assert hub_url(RepoRef("a/b", "v1"), "sub dir/x.bin") == "http://127.0.0.1:9/a/b/resolve/v1/sub%20dir/x.bin"


def test_malformed_manifest_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"components": [{"name": "x", "source": {"type": "ftp"}}]}))
    with pytest.raises(ManifestError, match="source type"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "absent.json")


# ------------------------------------------------------------------------------------------- a small manifest

A = payload(3000, seed=11)
B = payload(5000, seed=12)
SHARD1 = payload(4000, seed=13)
SHARD2 = payload(2500, seed=14)
INDEX = json.dumps({"metadata": {}, "weight_map": {"w.a": "pytorch_model-00001-of-00002.bin",
                                                   "w.b": "pytorch_model-00002-of-00002.bin",
                                                   "w.c": "pytorch_model-00001-of-00002.bin"}}).encode()


def small_manifest(tmp_path: Path, a_sha: str | None = None) -> Path:
    data = {
        "components": [
            {
                "name": "speech",
                "required": True,
                "source": {"type": "hf", "repo": "org/speech", "revision": "r1"},
                "dest_dir": "",
                "files": [
                    {"path": "speechtokenizer/a.bin", "size": len(A), "sha256": a_sha},
                    {"path": "speechtokenizer/b.json"},
                ],
            },
            {
                "name": "llm",
                "required": True,
                "source": {"type": "hf", "repo": "org/llm", "revision": "main"},
                "dest_dir": "LLM",
                "files": [{"path": "config.json"}, {"path": "generation_config.json", "optional": True}],
                "weights": {"candidates": ["model.safetensors.index.json", "model.safetensors",
                                           "pytorch_model.bin.index.json", "pytorch_model.bin"]},
            },
            {"name": "extra", "required": False, "source": {"type": "hf", "repo": "org/extra"},
             "dest_dir": "extra", "files": [{"path": "e.bin"}]},
        ]
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def serve_small(srv: FileServer, sharded: bool = True) -> None:
    srv.add("/org/speech/resolve/r1/speechtokenizer/a.bin", A)
    srv.add("/org/speech/resolve/r1/speechtokenizer/b.json", B)
    srv.add("/org/llm/resolve/main/config.json", b"{}")
    if sharded:
        srv.add("/org/llm/resolve/main/pytorch_model.bin.index.json", INDEX)
        srv.add("/org/llm/resolve/main/pytorch_model-00001-of-00002.bin", SHARD1)
        srv.add("/org/llm/resolve/main/pytorch_model-00002-of-00002.bin", SHARD2)
    else:
        srv.add("/org/llm/resolve/main/pytorch_model.bin", SHARD1)


def states(statuses) -> dict[str, str]:
    return {s.name: s.state.value for s in statuses}


def test_status_of_an_empty_folder_is_missing(tmp_path: Path) -> None:
    m = load_manifest(small_manifest(tmp_path))
    st = model_store.status(tmp_path / "models", manifest=m)
    assert states(st) == {"speech": "missing", "llm": "missing", "extra": "missing"}
    assert not model_store.all_required_present(st)
    llm = st[1]
    assert any("one of:" in f.detail for f in llm.files)


def test_status_present_partial_corrupt_and_verify(tmp_path: Path) -> None:
    m = load_manifest(small_manifest(tmp_path, a_sha=sha256(A)))
    root = tmp_path / "models"
    (root / "speechtokenizer").mkdir(parents=True)
    (root / "speechtokenizer/a.bin").write_bytes(A)
    part_path(root / "speechtokenizer/b.json").write_bytes(B[:100])
    (root / "LLM").mkdir()
    (root / "LLM/config.json").write_text("{}")
    (root / "LLM/pytorch_model.bin").write_bytes(b"w" * 10)
    (root / "extra").mkdir()
    (root / "extra/e.bin").write_bytes(b"e")

    st = {s.name: s for s in model_store.status(root, manifest=m)}
    assert st["speech"].state is FileState.PARTIAL
    assert st["llm"].state is FileState.PRESENT  # the optional generation_config.json does not count
    assert st["extra"].state is FileState.PRESENT
    partial = [f for f in st["speech"].files if f.state is FileState.PARTIAL][0]
    assert partial.size_on_disk == 100

    (root / "speechtokenizer/a.bin").write_bytes(A[:-1])  # wrong size -> corrupt even without --verify
    st = {s.name: s for s in model_store.status(root, manifest=m)}
    assert st["speech"].state is FileState.CORRUPT

    tampered = bytearray(A)
    tampered[7] ^= 1
    (root / "speechtokenizer/a.bin").write_bytes(bytes(tampered))  # right size, wrong content
    part_path(root / "speechtokenizer/b.json").unlink()
    (root / "speechtokenizer/b.json").write_bytes(B)
    assert {s.name: s for s in model_store.status(root, manifest=m)}["speech"].state is FileState.PRESENT
    verified = {s.name: s for s in model_store.status(root, manifest=m, verify=True)}
    assert verified["speech"].state is FileState.CORRUPT
    assert any(f.detail == "sha256 mismatch" for f in verified["speech"].files)


def test_status_follows_an_index_file_to_its_shards(tmp_path: Path) -> None:
    m = load_manifest(small_manifest(tmp_path))
    root = tmp_path / "models"
    (root / "LLM").mkdir(parents=True)
    (root / "LLM/config.json").write_text("{}")
    (root / "LLM/pytorch_model.bin.index.json").write_bytes(INDEX)
    (root / "LLM/pytorch_model-00001-of-00002.bin").write_bytes(SHARD1)
    llm = model_store.status(root, manifest=m, components=["llm"])[0]
    assert llm.state is FileState.MISSING
    assert {f.dest for f in llm.files if f.state is FileState.MISSING} == {
        "LLM/pytorch_model-00002-of-00002.bin", "LLM/generation_config.json"
    }
    (root / "LLM/pytorch_model-00002-of-00002.bin").write_bytes(SHARD2)
    assert model_store.status(root, manifest=m, components=["llm"])[0].ok


def test_download_discovers_sharded_weights_and_records_hashes(tmp_path: Path, monkeypatch) -> None:
    m = load_manifest(small_manifest(tmp_path, a_sha=sha256(A)))
    root = tmp_path / "models"
    with FileServer() as srv:
        serve_small(srv, sharded=True)
        monkeypatch.setenv("ANYGPT_HF_ENDPOINT", srv.base)
        report = model_store.download(root, manifest=m, backoff_s=0.0)
        requested = srv.paths_requested()
    assert (root / "speechtokenizer/a.bin").read_bytes() == A
    assert (root / "LLM/pytorch_model-00001-of-00002.bin").read_bytes() == SHARD1
    assert (root / "LLM/pytorch_model-00002-of-00002.bin").read_bytes() == SHARD2
    assert "/org/llm/resolve/main/pytorch_model.bin" not in requested  # the index was found first
    assert not (root / "extra").exists()  # optional component not asked for
    assert report.missing_optional == ["LLM/generation_config.json"]
    assert sorted(report.downloaded) == sorted([
        "speechtokenizer/a.bin", "speechtokenizer/b.json", "LLM/config.json", "LLM/pytorch_model.bin.index.json",
        "LLM/pytorch_model-00001-of-00002.bin", "LLM/pytorch_model-00002-of-00002.bin",
    ])
    record = model_store.read_record(root)
    assert record["speechtokenizer/b.json"]["sha256"] == sha256(B)
    st = model_store.status(root, manifest=m, verify=True)
    assert model_store.all_required_present(st)

    # The record catches a later change even though the manifest has no size or hash for b.json.
    (root / "speechtokenizer/b.json").write_bytes(B[:10])
    assert model_store.status(root, manifest=m)[0].state is FileState.CORRUPT


def test_download_single_weights_file_and_skips_present_files(tmp_path: Path, monkeypatch) -> None:
    m = load_manifest(small_manifest(tmp_path))
    root = tmp_path / "models"
    with FileServer() as srv:
        serve_small(srv, sharded=False)
        monkeypatch.setenv("ANYGPT_HF_ENDPOINT", srv.base)
        model_store.download(root, ["llm"], manifest=m, backoff_s=0.0)
        assert (root / "LLM/pytorch_model.bin").read_bytes() == SHARD1
        srv.knobs.requests.clear()
        again = model_store.download(root, ["llm"], manifest=m, backoff_s=0.0)
        assert "LLM/pytorch_model.bin" in again.skipped
        assert "/org/llm/resolve/main/pytorch_model.bin" not in srv.paths_requested()


def test_download_with_no_weights_in_the_source_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    m = load_manifest(small_manifest(tmp_path))
    with FileServer() as srv:
        srv.add("/org/llm/resolve/main/config.json", b"{}")
        monkeypatch.setenv("ANYGPT_HF_ENDPOINT", srv.base)
        with pytest.raises(NotFoundError, match="none of the weight files"):
            model_store.download(tmp_path / "models", ["llm"], manifest=m, backoff_s=0.0)


def test_download_unknown_component_is_a_store_error(tmp_path: Path) -> None:
    m = load_manifest(small_manifest(tmp_path))
    with pytest.raises(model_store.ModelStoreError, match="unknown component"):
        model_store.download(tmp_path / "models", ["nope"], manifest=m)


def test_include_base_adds_the_base_component(tmp_path: Path, monkeypatch) -> None:
    data = {"components": [
        {"name": "base", "required": False, "source": {"type": "url"}, "dest_dir": "AnyGPT-base",
         "files": [{"path": "x.bin", "url": "PLACEHOLDER"}]},
    ]}
    with FileServer() as srv:
        data["components"][0]["files"][0]["url"] = srv.add("/x.bin", b"xyz")
        (tmp_path / "m.json").write_text(json.dumps(data))
        m = load_manifest(tmp_path / "m.json")
        assert model_store.download(tmp_path / "models", manifest=m).downloaded == []
        report = model_store.download(tmp_path / "models", manifest=m, include_base=True)
    assert report.downloaded == ["AnyGPT-base/x.bin"]
    assert (tmp_path / "models/AnyGPT-base/x.bin").read_bytes() == b"xyz"
