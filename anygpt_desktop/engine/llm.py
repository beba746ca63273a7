"""Loading the AnyGPT chat or base LLM (a plain HF ``LlamaForCausalLM``) with its tokenizer, checked together."""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer
from anygpt_desktop.protocol.vocab import VocabularyError

logger = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """A model folder is missing, incomplete or does not fit: the message says which, in the user's terms."""


def pick_device(preference: str | None = None) -> torch.device:
    """``"cuda"``/``"cpu"``/``"cuda:1"``..., or the best available when None/"auto"."""
    if preference and preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("a CUDA GPU was requested but none is available; choose the CPU in the settings")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(device: torch.device, preference: str | None = None) -> torch.dtype:
    """fp32 on CPU; on CUDA bf16 where supported, else fp16 (or what the setting says)."""
    if preference:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[preference]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class LoadedLLM:
    model: torch.nn.Module
    tokenizer: AnyGPTTokenizer
    device: torch.device
    dtype: torch.dtype
    folder: Path
    precision: str = "fp32"  # fp32 | bf16 | fp16 | int8 | int4 (the weights; ``dtype`` is the compute dtype)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab.size


@dataclass
class TokenizerOnlyLLM:
    """The LLM's local side when the model itself runs on a vLLM server (``--llm-url``): its tokenizer, and the device
    the media models use. No weights are loaded; ``model`` is None."""

    tokenizer: AnyGPTTokenizer
    device: torch.device
    folder: Path
    url: str
    model: None = None
    precision: str = "remote"
    dtype: str = "LLM on a vLLM server"  # what the status bar shows beside the device

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab.size


def load_llm_tokenizer_only(folder: Path | str, device: str | None, url: str) -> TokenizerOnlyLLM:
    """The chat LLM folder's tokenizer (checked against the id layout) without its weights, for a served LLM."""
    folder = Path(folder)
    try:
        tokenizer = AnyGPTTokenizer.from_folder(folder)
    except (VocabularyError, FileNotFoundError, ValueError) as exc:
        raise ModelLoadError(
            f"the LLM runs on the server {url}, but its tokenizer is needed here too: the tokenizer files in {folder} "
            f"are not usable ({exc}); download the chat model's tokenizer in the model manager"
        ) from exc
    return TokenizerOnlyLLM(tokenizer, pick_device(device), folder, url)


PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16", "int8", "int4")
_FLOAT_PRECISION = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_DTYPE_PRECISION = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def memory_budget(device: torch.device) -> int:
    """Bytes the models may use: free VRAM on CUDA, available RAM on the CPU."""
    if device.type == "cuda":  # pragma: no cover - needs a GPU
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


SMALL_MODEL_BYTES = 1 << 30  # "auto" never quantizes a model this small (the tiny kit): full precision as before


def resolve_precision(
    precision: str | None, device: torch.device, dtype: str | None = None, config: dict | None = None
) -> str:
    """The weights' precision: the setting, or for ``auto`` the most precise one whose resident set (this LLM, its
    KV cache, the speech models, a margin; see ``memory_plan``) fits the free memory. An explicit ``dtype`` means
    that float type. A model under 1 GiB in float32 stays in fp32 on the CPU (bf16/fp16 on CUDA)."""
    from anygpt_desktop.engine import memory_plan

    choice = (precision or "auto").lower()
    if choice not in PRECISION_CHOICES:
        raise ModelLoadError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if choice != "auto":
        return choice
    if dtype:
        return _DTYPE_PRECISION[dtype]
    sizes = memory_plan.load_sizes()
    if config is not None:
        sizes = memory_plan.with_llm(sizes, memory_plan.llm_sizes_for_config(config))
    if memory_plan.llm_bytes(sizes, "fp32") <= SMALL_MODEL_BYTES:
        chosen = "fp32" if device.type == "cpu" else "bf16"
    else:
        chosen = memory_plan.choose_precision(memory_budget(device), device.type, sizes)
    if device.type == "cuda" and chosen == "bf16" and not torch.cuda.is_bf16_supported():  # pragma: no cover
        chosen = "fp16"
    return chosen


def compute_dtype(device: torch.device, precision: str, dtype: str | None = None) -> torch.dtype:
    """Activations' dtype: the float precision itself; for int8/int4 bf16 (fp16 on GPUs without bf16)."""
    if dtype:
        return pick_dtype(device, dtype)
    if precision in _FLOAT_PRECISION:
        return _FLOAT_PRECISION[precision]
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():  # pragma: no cover - needs an old GPU
        return torch.float16
    return torch.bfloat16


def load_llm(
    folder: Path | str,
    device: str | None = None,
    dtype: str | None = None,
    precision: str | None = "auto",
    *,
    convert: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedLLM:
    """Load ``AnyGPT-chat/`` (or ``AnyGPT-base/``): tokenizer files checked against the id layout, weights loaded
    safely and shard by shard into a model built on ``meta`` (never a float32 copy of the whole model), in
    ``precision`` (``auto | fp32 | bf16 | fp16 | int8 | int4``), embedding size checked against the tokenizer.

    ``convert``: keep (and reuse) a safetensors copy in this precision under ``folder/converted/`` (see
    ``llm_weights``). ``progress(done, total)`` is called after each weight file.
    """
    from transformers import LlamaForCausalLM

    from anygpt_desktop.engine import llm_weights
    from anygpt_desktop.engine.llm_manifest import llama_config
    from anygpt_desktop.engine.quantize import quantize_model

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"no language model at {folder} (config.json missing): download it in the model manager")
    try:
        tokenizer = AnyGPTTokenizer.from_folder(folder)
    except (VocabularyError, FileNotFoundError, ValueError) as exc:
        raise ModelLoadError(f"the tokenizer files in {folder} are not usable: {exc}") from exc
    dev = pick_device(device)
    try:
        config_json = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config = llama_config(config_json)
        files = llm_weights.checkpoint_files(folder)
    except (OSError, ValueError, TypeError, llm_weights.WeightsError) as exc:
        raise ModelLoadError(f"could not load the language model from {folder}: {exc}") from exc
    chosen = resolve_precision(precision, dev, dtype, config_json)
    torch_dtype = compute_dtype(dev, chosen, dtype)
    with torch.device("meta"):
        model = LlamaForCausalLM(config).to(torch_dtype)
    if chosen in ("int8", "int4"):
        quantize_model(model, chosen, dtype=torch_dtype)  # type: ignore[arg-type]
    fingerprint = llm_weights.source_fingerprint(files)
    want_cache = convert and (chosen in ("int8", "int4") or files[0].suffix != ".safetensors")
    cached = llm_weights.find_converted(folder, chosen, fingerprint) if want_cache else None
    try:
        llm_weights.load_into(model, cached.files if cached else files, dev, torch_dtype, progress)
        model.model.rotary_emb = type(model.model.rotary_emb)(config=config).to(dev)  # non-persistent buffers
    except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - needs a GPU
        raise ModelLoadError(
            "the language model does not fit in GPU memory; choose int8 or int4 in the settings, close other "
            "programs or use the CPU"
        ) from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"could not load the language model from {folder}: {exc}") from exc
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"the language model in {folder} is not a plain weights file (it would run code when loaded, or it is "
            "damaged); it was not loaded. Download it again in the model manager."
        ) from exc
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        if type(exc).__name__ != "SafetensorError":
            raise
        raise ModelLoadError(f"the language model file in {folder} is damaged or incomplete ({exc}); download it again") from exc
    left_on_meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left_on_meta:
        raise ModelLoadError(f"could not load the language model from {folder}: {left_on_meta[0]} was not filled")
    model.requires_grad_(False)
    rows = model.get_input_embeddings().weight.shape[0]
    if rows != tokenizer.vocab.size:
        raise ModelLoadError(
            f"{folder}: the model has {rows} embedding rows but its tokenizer defines {tokenizer.vocab.size} ids"
        )
    if want_cache and cached is None:
        try:
            llm_weights.write_converted(folder, chosen, fingerprint, model.state_dict(), files)
        except llm_weights.ConversionError as exc:
            logger.warning("%s; loading from the original file next time too", exc)
    model.eval()
    source = "converted copy" if cached else files[0].name
    logger.info("LLM loaded from %s (%s) on %s: %s weights, %s compute, %d ids", folder, source, dev, chosen, torch_dtype, rows)
    return LoadedLLM(model, tokenizer, dev, torch_dtype, folder, chosen)
