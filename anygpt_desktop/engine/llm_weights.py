"""The LLM's weights: streamed into a ``meta``-built model shard by shard, and the converted-weights cache.

Loading never holds a float32 copy of the model: the model is built on ``meta``, each checkpoint shard is opened
memory-mapped (``torch.load(weights_only=True, mmap=True)``, or safetensors), every tensor is cast (or quantized, see
``quantize.py``) as it arrives, moved to the device and put in place with ``load_state_dict(assign=True)``.

The converted cache: the first load of a ``.bin`` checkpoint writes the loaded state (already in the chosen
precision) as safetensors shards under ``<folder>/converted/<precision>-<fingerprint>/`` with a ``converted.json``
that names the source fingerprint (file names, sizes and mtimes). Later starts read that instead of the pickle. A
changed source gets a new fingerprint, hence a new folder (the stale ones are removed). Conversion writes into a
``.part-<pid>`` folder renamed at the end, so an interrupted one is never used (and is removed once its process is
gone); a full disk logs a warning and the app
keeps loading from the ``.bin``.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from anygpt_desktop.engine.quantize import Int4Linear, Int8Linear, quantize_state_for

logger = logging.getLogger(__name__)

CONVERTED_DIR = "converted"
CONVERTED_META = "converted.json"
CONVERTED_SHARD_BYTES = 1 << 30  # safetensors holds one shard's bytes in memory while writing it
SOURCE_CANDIDATES = (
    "model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin",
)
# Files written by transformers < 4.31 may hold the rotary frequencies; the model recomputes them.
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)

Progress = Callable[[int, int], None]


class WeightsError(RuntimeError):
    """A checkpoint is missing, unreadable or does not match the model."""


class ConversionError(RuntimeError):
    """The converted copy could not be written (the message says why; the caller keeps the source)."""


def checkpoint_files(folder: Path) -> list[Path]:
    """The weight files of an HF model folder, in load order (a sharded index's files, or the single file)."""
    for name in SOURCE_CANDIDATES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
            except (OSError, ValueError, KeyError) as exc:
                raise WeightsError(f"{path} is not a readable shard index: {exc}") from exc
            files = [folder / f for f in dict.fromkeys(weight_map.values())]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise WeightsError(f"{folder}: shard(s) {', '.join(missing)} listed in {name} are missing")
            return files
        return [path]
    raise WeightsError(f"no weights in {folder} (expected one of {', '.join(SOURCE_CANDIDATES)})")


def source_fingerprint(files: list[Path]) -> str:
    """A short hex digest of the files' names, sizes and modification times (changes when any file is replaced)."""
    digest = hashlib.sha256()
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _safetensors_items(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        for key in f.keys():
            yield key, f.get_tensor(key)


def iter_shards(files: list[Path]) -> Iterator[Iterable[tuple[str, torch.Tensor]]]:
    """Each file's ``(key, tensor)`` pairs, one file at a time, memory-mapped (both formats): the caller copies what
    it keeps before the next file is opened."""
    for path in files:
        if path.suffix == ".safetensors":
            yield _safetensors_items(path)
        else:
            try:
                shard = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except (RuntimeError, OSError, ValueError) as exc:
                raise WeightsError(f"{path.name} is not a readable checkpoint: {exc}") from exc
            if not isinstance(shard, dict):
                raise WeightsError(f"{path.name} holds a {type(shard).__name__}, not a state dict")
            yield shard.items()
            del shard
        gc.collect()  # drop the last shard's mapping before the next is opened


def _release_pages(tensor: torch.Tensor) -> None:
    """Tell the kernel we are done with a memory-mapped tensor's pages (Linux), so the resident size of a big
    checkpoint file does not add up while it is read. Safe: the mapping is private and never written; a page
    touched again is read back from the file."""
    if not _MADVISE or tensor.device.type != "cpu" or tensor.numel() == 0:
        return
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    page = _PAGE_SIZE
    lo, hi = -(-start // page) * page, end // page * page  # only pages wholly inside this tensor's bytes
    if hi > lo:
        _MADVISE(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), _MADV_DONTNEED)


def _libc_madvise():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _libc_madvise()
_MADV_DONTNEED = 4
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _module_of(model: nn.Module, key: str) -> tuple[nn.Module, str]:
    mod_name, _, attr = key.rpartition(".")
    return model.get_submodule(mod_name), attr


@torch.no_grad()
def load_into(
    model: nn.Module,
    files: list[Path],
    device: torch.device,
    dtype: torch.dtype,
    progress: Progress | None = None,
) -> None:
    """Fill ``model`` (built on ``meta``, possibly with quantized layers) from ``files``, shard by shard.

    A float weight that meets a quantized layer is quantized on arrival; an already-quantized state (the converted
    cache) is taken as it is. Every persistent tensor of ``model`` must be filled, else ``WeightsError``.
    """
    expected = set(model.state_dict().keys())
    seen: set[str] = set()
    for n, shard in enumerate(iter_shards(files), 1):
        part: dict[str, torch.Tensor] = {}
        for key, tensor in shard:
            if key.endswith(IGNORED_SUFFIXES):
                continue
            module, attr = _module_of_safe(model, key)
            if isinstance(module, (Int8Linear, Int4Linear)) and attr == "weight" and tensor.is_floating_point():
                for name, value in quantize_state_for(module, tensor).items():
                    part[f"{key.rpartition('.')[0]}.{name}"] = value.to(device)
            elif tensor.is_floating_point():  # copied out of the file's memory-mapped pages
                part[key] = tensor.to(device=device, dtype=dtype, copy=True)
            else:
                part[key] = tensor.to(device=device, copy=True)
            _release_pages(tensor)
        unexpected = set(part) - expected
        if unexpected:
            raise WeightsError(f"the checkpoint has tensors the model does not: {', '.join(sorted(unexpected)[:5])}")
        _check_shapes(model, part)
        model.load_state_dict(part, strict=False, assign=True)
        seen.update(part)
        del shard, part, tensor
        if progress is not None:
            progress(n, len(files))
    missing = expected - seen
    if missing:
        raise WeightsError(f"the checkpoint lacks {len(missing)} tensor(s), e.g. {', '.join(sorted(missing)[:5])}")


def _module_of_safe(model: nn.Module, key: str) -> tuple[nn.Module | None, str]:
    try:
        return _module_of(model, key)
    except AttributeError:
        return None, key


def _check_shapes(model: nn.Module, part: Mapping[str, torch.Tensor]) -> None:
    current = model.state_dict()
    for key, value in part.items():
        want = current[key]
        if tuple(want.shape) != tuple(value.shape):
            raise WeightsError(f"{key}: the checkpoint has shape {tuple(value.shape)}, the model {tuple(want.shape)}")


def _process_alive(pid: int) -> bool:
    import psutil

    return pid != os.getpid() and psutil.pid_exists(pid)


# --- the converted cache ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvertedInfo:
    folder: Path
    files: list[Path]


def converted_folder(folder: Path, precision: str, fingerprint: str) -> Path:
    return folder / CONVERTED_DIR / f"{precision}-{fingerprint}"


def find_converted(folder: Path, precision: str, fingerprint: str) -> ConvertedInfo | None:
    """The complete converted copy for this source and precision, or None."""
    target = converted_folder(folder, precision, fingerprint)
    meta_path = target / CONVERTED_META
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("fingerprint") != fingerprint or meta.get("precision") != precision:
        return None
    files = [target / f for f in meta.get("files", [])]
    if not files or not all(f.is_file() for f in files):
        return None
    return ConvertedInfo(target, files)


def _state_bytes(state: Mapping[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in state.values())


def write_converted(
    folder: Path, precision: str, fingerprint: str, state: Mapping[str, torch.Tensor], source_files: list[Path]
) -> ConvertedInfo:
    """Write ``state`` as safetensors shards into the converted folder (atomically); remove stale conversions.

    Raises ``ConversionError`` (and leaves nothing behind) when the disk is full or the folder is not writable.
    """
    from safetensors.torch import save_file

    target = converted_folder(folder, precision, fingerprint)
    part_dir = target.with_name(f"{target.name}.part-{os.getpid()}")  # one per process: two apps may convert at once
    need = _state_bytes(state)
    started = time.perf_counter()
    try:
        shutil.rmtree(part_dir, ignore_errors=True)
        part_dir.mkdir(parents=True)
        free = shutil.disk_usage(part_dir).free
        if free < need + (64 << 20):
            raise OSError(errno.ENOSPC, f"{need / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free")
        groups: list[dict[str, torch.Tensor]] = [{}]
        size = 0
        for key, tensor in state.items():
            n = tensor.numel() * tensor.element_size()
            if groups[-1] and size + n > CONVERTED_SHARD_BYTES:
                groups.append({})
                size = 0
            groups[-1][key] = tensor.detach().to("cpu").contiguous()
            size += n
        names = []
        for k, group in enumerate(groups, 1):
            name = f"model-{k:05d}-of-{len(groups):05d}.safetensors"
            save_file(group, str(part_dir / name), metadata={"format": "pt"})
            names.append(name)
            groups[k - 1] = {}
        meta = {
            "fingerprint": fingerprint,
            "precision": precision,
            "source": [f.name for f in source_files],
            "files": names,
            "bytes": need,
        }
        (part_dir / CONVERTED_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if find_converted(folder, precision, fingerprint) is not None:  # another process finished first
            shutil.rmtree(part_dir, ignore_errors=True)
            return find_converted(folder, precision, fingerprint)  # type: ignore[return-value]
        shutil.rmtree(target, ignore_errors=True)  # an incomplete leftover
        os.replace(part_dir, target)
    except OSError as exc:
        shutil.rmtree(part_dir, ignore_errors=True)
        reason = "the disk is full" if exc.errno == errno.ENOSPC else "it could not be written"
        raise ConversionError(f"the converted copy of the weights was not saved in {target.parent} ({reason}: {exc})") from exc
    for stale in (folder / CONVERTED_DIR).glob(f"{precision}-*"):
        if stale != target and ".part-" not in stale.name:  # another process may be writing a .part folder
            shutil.rmtree(stale, ignore_errors=True)
    for leftover in (folder / CONVERTED_DIR).glob(f"{target.name}.part-*"):
        pid = leftover.name.rpartition("-")[2]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    logger.info("converted weights written to %s (%.2f GB) in %.1f s", target, need / 1e9, time.perf_counter() - started)
    return ConvertedInfo(target, [target / n for n in names])
