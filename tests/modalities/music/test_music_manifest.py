"""Encodec state-spec: transformers-5 parametrization names mapped back to the released weight_g/weight_v."""

from __future__ import annotations

import json
from pathlib import Path

from anygpt_desktop.modalities.music.manifest import encodec_state_spec, released_key
from anygpt_desktop.tiny_kit.encodec import TINY_ENCODEC_CONFIG, tiny_encodec_state_dict
from anygpt_desktop.verify.manifests_family import compare


def test_released_key_mapping() -> None:
    assert released_key("encoder.layers.0.conv.parametrizations.weight.original0") == "encoder.layers.0.conv.weight_g"
    assert released_key("decoder.layers.3.conv.parametrizations.weight.original1") == "decoder.layers.3.conv.weight_v"
    assert released_key("quantizer.layers.0.codebook.embed") == "quantizer.layers.0.codebook.embed"


def test_spec_describes_the_tiny_kit_file() -> None:
    state = tiny_encodec_state_dict(seed=0)
    spec = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()}
    assert spec == encodec_state_spec({"config_used": TINY_ENCODEC_CONFIG})


def test_full_size_manifest_matches(reference_dir: Path) -> None:
    manifest = json.loads((reference_dir / "manifests" / "encodec_32khz.json").read_text(encoding="utf-8"))
    assert compare(manifest["keys"], encodec_state_spec(manifest)) == []
    assert compare(manifest["keys"], encodec_state_spec({})) == []  # the built-in real config agrees
