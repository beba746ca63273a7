"""Loading the AnyGPT chat or base LLM (a plain HF ``LlamaForCausalLM``) with its tokenizer, checked together."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab.size


def load_llm(folder: Path | str, device: str | None = None, dtype: str | None = None) -> LoadedLLM:
    """Load ``AnyGPT-chat/`` (or ``AnyGPT-base/``): tokenizer files checked against the id layout, weights loaded
    safely (safetensors, or ``.bin`` with ``weights_only``), embedding size checked against the tokenizer."""
    from transformers import LlamaForCausalLM

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"no language model at {folder} (config.json missing): download it in the model manager")
    try:
        tokenizer = AnyGPTTokenizer.from_folder(folder)
    except (VocabularyError, FileNotFoundError, ValueError) as exc:
        raise ModelLoadError(f"the tokenizer files in {folder} are not usable: {exc}") from exc
    dev = pick_device(device)
    torch_dtype = pick_dtype(dev, dtype)
    try:
        model = LlamaForCausalLM.from_pretrained(folder, dtype=torch_dtype, low_cpu_mem_usage=True)
    except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - needs a GPU
        raise ModelLoadError("the language model does not fit in GPU memory; close other programs or use the CPU") from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"could not load the language model from {folder}: {exc}") from exc
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"the language model in {folder} is not a plain weights file (it would run code when loaded, or it is "
            "damaged); it was not loaded. Download it again in the model manager."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for a damaged file
        if type(exc).__name__ != "SafetensorError":
            raise
        raise ModelLoadError(f"the language model file in {folder} is damaged or incomplete ({exc}); download it again") from exc
    rows = model.get_input_embeddings().weight.shape[0]
    if rows != tokenizer.vocab.size:
        raise ModelLoadError(
            f"{folder}: the model has {rows} embedding rows but its tokenizer defines {tokenizer.vocab.size} ids"
        )
    try:
        model.to(dev)
    except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - needs a GPU
        raise ModelLoadError("the language model does not fit in GPU memory; close other programs or use the CPU") from exc
    model.eval()
    logger.info("LLM loaded from %s on %s (%s), %d ids", folder, dev, torch_dtype, rows)
    return LoadedLLM(model, tokenizer, dev, torch_dtype, folder)
