"""What each component needs resident, per precision, and whether the whole assistant fits a memory budget.

Sizes come from the state-dict manifests of the released checkpoints (tensor shapes, summed), shipped as
``data/component_sizes.json`` (``python -m anygpt_desktop.engine.memory_plan --from-manifests DIR`` rewrites it).
The LLM's share is exact per precision: its linear layers in int8 (one scale per row) or int4 (group 128, scale and
zero per group), ``lm_head`` int8 in both quantized modes, embeddings and norms in the compute dtype (see
``quantize.py``). The KV cache is sized for the 4096-token context; a stated margin covers activations, the prefill
logits and allocator slack.

Resident: the LLM, its KV cache, SpeechTokenizer and SoundStorm (every spoken turn needs them). On demand: the SEED
tokenizer with its EVA ViT-g (image input), the unCLIP decoder (image output), Encodec (music). An on-demand model
that does not fit beside the resident set runs offloaded: unCLIP with diffusers' model CPU offload (only its largest
part, the UNet, on the GPU at a time), the others on the CPU.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

GiB = 1024**3
CONTEXT_TOKENS = 4096
ACTIVATION_MARGIN_BYTES = 1 * GiB
INT4_GROUP = 128
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int4")
FLOAT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
SIZES_FILE = "component_sizes.json"

# manifest stem -> (component, resident?) ; components made of several checkpoints are summed.
COMPONENTS: dict[str, tuple[str, bool]] = {
    "anygpt_chat_llama": ("LLM (AnyGPT-chat)", True),
    "speechtokenizer": ("SpeechTokenizer", True),
    "soundstorm": ("SoundStorm", True),
    "seed_quantizer": ("SEED tokenizer + EVA ViT-g", False),
    "eva_vit_g": ("SEED tokenizer + EVA ViT-g", False),
    "unclip_unet": ("unCLIP decoder", False),
    "unclip_vae": ("unCLIP decoder", False),
    "unclip_text_encoder": ("unCLIP decoder", False),
    "unclip_image_normalizer": ("unCLIP decoder", False),
    "encodec_32khz": ("Encodec 32 kHz", False),
}
LLM = "LLM (AnyGPT-chat)"
UNCLIP = "unCLIP decoder"


def _numel(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


def sizes_from_manifests(manifests_dir: Path | str) -> dict[str, Any]:
    """The numbers the plan needs, summed from the manifests' shapes (written to ``component_sizes.json``)."""
    root = Path(manifests_dir)
    components: dict[str, dict[str, int]] = {}
    parts: dict[str, dict[str, int]] = {}
    llm: dict[str, Any] = {}
    for stem, (name, _resident) in COMPONENTS.items():
        manifest = json.loads((root / f"{stem}.json").read_text(encoding="utf-8"))
        elements = sum(_numel(k["shape"]) for k in manifest["keys"] if k["dtype"].startswith(("float", "bfloat")))
        components.setdefault(name, {"elements": 0})["elements"] += elements
        parts.setdefault(name, {})[stem] = elements
        if stem == "anygpt_chat_llama":
            llm = _llm_breakdown(manifest)
    return {"source": "shared/reference/manifests (state-dict shapes)", "components": components, "parts": parts, "llm": llm}


def _llm_breakdown(manifest: Mapping[str, Any]) -> dict[str, Any]:
    linear: dict[str, int] = {}  # "out x in" -> count, for the decoder layers' projections
    out: dict[str, Any] = {"embedding": 0, "head": [0, 0], "other": 0, "layers": 0, "kv_dim": 0}
    for k in manifest["keys"]:
        key, shape = k["key"], k["shape"]
        if key == "model.embed_tokens.weight":
            out["embedding"] = _numel(shape)
        elif key == "lm_head.weight":
            out["head"] = list(shape)
        elif len(shape) == 2 and key.startswith("model.layers."):
            linear[f"{shape[0]}x{shape[1]}"] = linear.get(f"{shape[0]}x{shape[1]}", 0) + 1
            if key.endswith("k_proj.weight"):
                out["kv_dim"] = shape[0]
                out["layers"] += 1
        else:
            out["other"] += _numel(shape)
    out["linear"] = linear
    return out


def llm_sizes_for_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The LLM breakdown of a config.json (any width or depth), from ``LlamaForCausalLM`` built on ``meta``."""
    from anygpt_desktop.engine.llm_manifest import llama_state_spec

    spec = llama_state_spec({"config_used": dict(config)})
    return _llm_breakdown({"keys": [{"key": k, "shape": list(shape)} for k, (shape, _dtype) in spec.items()]})


def with_llm(sizes: Mapping[str, Any], llm: Mapping[str, Any]) -> dict[str, Any]:
    """``sizes`` with the LLM breakdown replaced (e.g. by the installed model's own)."""
    return {**sizes, "llm": dict(llm)}


def load_sizes() -> dict[str, Any]:
    """The shipped ``component_sizes.json``."""
    text = resources.files("anygpt_desktop.engine").joinpath("data", SIZES_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def llm_bytes(sizes: Mapping[str, Any], precision: str, compute: str = "bf16") -> int:
    """Bytes of the LLM's weights in ``precision`` (``compute``: dtype of embeddings, norms and scales)."""
    llm = sizes["llm"]
    fb = FLOAT_BYTES.get(precision, FLOAT_BYTES[compute])
    head_out, head_in = llm["head"]
    linear = [(int(s.split("x")[0]), int(s.split("x")[1]), n) for s, n in llm["linear"].items()]
    small = (llm["embedding"] + llm["other"]) * fb
    if precision in FLOAT_BYTES:
        return small + sum(o * i * n for o, i, n in linear) * fb + head_out * head_in * fb
    head = head_out * head_in + head_out * fb  # int8 + one scale per row
    if precision == "int8":
        return small + head + sum((o * i + o * fb) * n for o, i, n in linear)
    if precision == "int4":  # a layer whose width is not a multiple of the group stays int8 (as quantize_model does)
        return small + head + sum(
            ((o * i // 2 + 2 * o * (i // INT4_GROUP) * fb) if i % INT4_GROUP == 0 else (o * i + o * fb)) * n
            for o, i, n in linear
        )
    raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


def kv_cache_bytes(sizes: Mapping[str, Any], context: int = CONTEXT_TOKENS, dtype_bytes: int = 2) -> int:
    llm = sizes["llm"]
    return 2 * llm["layers"] * context * llm["kv_dim"] * dtype_bytes


@dataclass
class Item:
    name: str
    bytes: int
    resident: bool
    where: str = "GPU"  # GPU | CPU offload | CPU (on a GPU plan); RAM (on a CPU plan)
    note: str = ""


@dataclass
class MemoryPlan:
    budget_bytes: int | None
    device: str
    precision: str
    items: list[Item] = field(default_factory=list)
    margin_bytes: int = ACTIVATION_MARGIN_BYTES

    @property
    def resident_bytes(self) -> int:
        return sum(i.bytes for i in self.items if i.resident) + self.margin_bytes

    @property
    def fits(self) -> bool:
        """The resident set (LLM, KV cache, speech models, margin) fits the budget; on-demand models may offload."""
        return self.budget_bytes is None or self.resident_bytes <= self.budget_bytes

    @property
    def free_after_resident(self) -> int | None:
        return None if self.budget_bytes is None else self.budget_bytes - self.resident_bytes

    def lines(self) -> list[str]:
        budget = "unknown" if self.budget_bytes is None else f"{self.budget_bytes / GiB:.1f} GiB"
        rows = [f"memory plan: LLM in {self.precision} on {self.device}, budget {budget}"]
        rows.append(f"  {'COMPONENT':34} {'NEEDS':>9}  {'WHEN':9}  WHERE")
        for it in self.items:
            when = "resident" if it.resident else "on demand"
            note = f"  ({it.note})" if it.note else ""
            rows.append(f"  {it.name:34} {it.bytes / GiB:7.2f} GiB  {when:9}  {it.where}{note}")
        rows.append(f"  {'activation margin':34} {self.margin_bytes / GiB:7.2f} GiB  resident")
        rows.append(f"  {'resident total':34} {self.resident_bytes / GiB:7.2f} GiB")
        verdict = "fits" if self.fits else "does NOT fit"
        offloaded = [i.name for i in self.items if not i.resident and i.where not in ("GPU", "RAM")]
        tail = f"; {', '.join(offloaded)} offloaded" if offloaded and self.fits else ""
        rows.append(f"the assistant {verdict} in {budget} with the LLM in {self.precision}{tail}")
        return rows


def plan_memory(
    budget_bytes: int | None,
    precision: str = "int8",
    device: str = "cuda",
    sizes: Mapping[str, Any] | None = None,
    unclip_offload: bool | None = None,
) -> MemoryPlan:
    """The plan for ``precision`` within ``budget_bytes`` (free VRAM on CUDA, available RAM on the CPU).

    ``unclip_offload``: None decides from the budget (offload when unCLIP does not fit beside the resident set).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    sizes = sizes or load_sizes()
    float_bytes = 4 if precision == "fp32" else 2  # the LLM's compute dtype (KV cache, embeddings, scales)
    media_bytes = 4 if device == "cpu" else 2  # the other models run in fp32 on the CPU, fp16 on CUDA
    compute = "fp32" if float_bytes == 4 else "bf16"
    comps = sizes["components"]
    plan = MemoryPlan(budget_bytes, device, precision)
    where = "RAM" if device == "cpu" else "GPU"
    plan.items.append(Item(LLM, llm_bytes(sizes, precision, compute), True, where))
    kv = kv_cache_bytes(sizes, dtype_bytes=float_bytes)
    plan.items.append(Item(f"KV cache ({CONTEXT_TOKENS} tokens)", kv, True, where))
    for name, resident in dict(COMPONENTS.values()).items():
        if name != LLM:
            plan.items.append(Item(name, comps[name]["elements"] * media_bytes, resident, where))
    free = plan.free_after_resident
    for it in plan.items:
        if it.resident or free is None:
            continue
        if it.name == UNCLIP:
            largest = max(sizes["parts"][UNCLIP].values()) * media_bytes
            offload = unclip_offload if unclip_offload is not None else it.bytes > free
            if offload and device != "cpu":
                it.where = "CPU offload" if largest <= free else "CPU"
                it.note = f"{largest / GiB:.2f} GiB on the GPU at a time" if largest <= free else "does not fit beside the resident set"
        elif it.bytes > free and device != "cpu":
            it.where = "CPU"
            it.note = "does not fit beside the resident set"
    return plan


def choose_precision(budget_bytes: int, device: str, sizes: Mapping[str, Any] | None = None) -> str:
    """The most precise LLM precision whose resident set fits ``budget_bytes`` (int4 when none does)."""
    order = ("fp32", "bf16", "int8", "int4") if device == "cpu" else ("bf16", "int8", "int4")
    for precision in order:
        if plan_memory(budget_bytes, precision, device, sizes).fits:
            return precision
    return "int4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rewrite data/component_sizes.json from the manifests")
    parser.add_argument("--from-manifests", required=True, help="e.g. ../shared/reference/manifests")
    args = parser.parse_args(argv)
    out = Path(__file__).resolve().parent / "data" / SIZES_FILE
    out.write_text(json.dumps(sizes_from_manifests(args.from_manifests), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
