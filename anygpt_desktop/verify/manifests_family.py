"""``manifests``: each released checkpoint's keys, shapes and dtypes versus our full-size model built on ``meta``.

``PROVIDERS`` maps a manifest file name to ``"module:function"``; the function takes the manifest dict (some carry
the config they were built with) and returns ``{key: (shape tuple, dtype name)}`` exactly as the released file
would hold it after our loader's key mapping. A manifest without a provider fails with "no checker".
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from anygpt_desktop.lazy import load_target
from anygpt_desktop.verify import CaseResult, Kit

StateSpec = dict[str, tuple[tuple[int, ...], str]]

PROVIDERS: dict[str, str] = {
    "anygpt_chat_llama.json": "anygpt_desktop.engine.llm_manifest:llama_state_spec",
    "encodec_32khz.json": "anygpt_desktop.modalities.music.manifest:encodec_state_spec",
    "unclip_unet.json": "anygpt_desktop.modalities.image.unclip_manifest:unet_state_spec",
    "unclip_vae.json": "anygpt_desktop.modalities.image.unclip_manifest:vae_state_spec",
    "unclip_text_encoder.json": "anygpt_desktop.modalities.image.unclip_manifest:text_encoder_state_spec",
    "unclip_image_normalizer.json": "anygpt_desktop.modalities.image.unclip_manifest:image_normalizer_state_spec",
    "speechtokenizer.json": "anygpt_desktop.modalities.speech.manifest:speechtokenizer_state_spec",
    "soundstorm.json": "anygpt_desktop.modalities.speech.manifest:soundstorm_state_spec",
    "seed_quantizer.json": "anygpt_desktop.modalities.image.seed_manifest:seed_quantizer_state_spec",
    "eva_vit_g.json": "anygpt_desktop.modalities.image.seed_manifest:eva_vit_g_state_spec",
}


def compare(expected: list[dict[str, Any]], actual: StateSpec) -> list[str]:
    """Differences between a manifest's key list and a state spec, in words (empty when identical)."""
    problems: list[str] = []
    want = {e["key"]: (tuple(e["shape"]), e["dtype"]) for e in expected}
    missing = [k for k in want if k not in actual]
    extra = [k for k in actual if k not in want]
    if missing:
        problems.append(f"{len(missing)} missing keys, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected keys, e.g. {extra[:3]}")
    wrong = [
        f"{k}: {actual[k][0]}/{actual[k][1]} != {want[k][0]}/{want[k][1]}"
        for k in want
        if k in actual and actual[k] != want[k]
    ]
    if wrong:
        problems.append(f"{len(wrong)} shape/dtype mismatches, e.g. {wrong[:3]}")
    return problems


def run(kit: Kit) -> Iterator[CaseResult]:
    for path in sorted(kit.manifests.glob("*.json")):
        manifest = kit.json(path.relative_to(kit.root))
        target = PROVIDERS.get(path.name)
        if target is None:
            yield CaseResult("manifests", path.stem, False, detail="no checker for this manifest in this version")
            continue
        provider: Callable[[dict[str, Any]], StateSpec] = load_target(target)
        problems = compare(manifest["keys"], provider(manifest))
        n = len(manifest["keys"])
        yield CaseResult("manifests", path.stem, not problems, detail="; ".join(problems) or f"{n} tensors match")
