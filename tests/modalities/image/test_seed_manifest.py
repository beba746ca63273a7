"""Full-size SEED state specs built on ``meta`` equal the released manifests; the verify family passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anygpt_desktop.modalities.image.seed_manifest import eva_vit_g_state_spec, seed_quantizer_state_spec
from anygpt_desktop.verify import Kit
from anygpt_desktop.verify.manifests_family import PROVIDERS, compare


def test_full_size_without_kit() -> None:
    q = seed_quantizer_state_spec({})
    assert len(q) == 370 and sum(_n(s) for s, _ in q.values()) == 164_104_512
    assert q["Qformer.bert.embeddings.position_ids"] == ((1, 512), "int64")
    assert q["Qformer.bert.encoder.layer.10.crossattention.self.key.weight"] == ((768, 1408), "float32")
    assert "Qformer.bert.encoder.layer.11.crossattention.self.key.weight" not in q
    eva = eva_vit_g_state_spec({})
    assert len(eva) == 511 and sum(_n(s) for s, _ in eva.values()) == 985_894_528
    assert eva["blocks.38.mlp.fc1.weight"] == ((6144, 1408), "float32")


def _n(shape: tuple[int, ...]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


@pytest.mark.parametrize("name", ["seed_quantizer.json", "eva_vit_g.json"])
def test_matches_reference_manifest(reference_dir: Path, name: str) -> None:
    manifest = json.loads((reference_dir / "manifests" / name).read_text(encoding="utf-8"))
    provider = {"seed_quantizer.json": seed_quantizer_state_spec, "eva_vit_g.json": eva_vit_g_state_spec}[name]
    assert PROVIDERS[name].endswith(provider.__name__)
    assert compare(manifest["keys"], provider(manifest)) == []


def test_verify_family_all_pass(reference_dir: Path) -> None:
    from anygpt_desktop.verify.seed_family import run

    results = list(run(Kit(reference_dir)))
    assert len(results) >= 13  # every line compares a computed value with a recorded one
    failed = [r.line() for r in results if not r.passed]
    assert not failed, failed
    names = {r.name for r in results}
    assert {"ids", "image_embeds", "decode_only_image_embeds", "decode_31_ids", "preprocessed"} <= names
