"""``anygpt-desktop models status|download``: the model store on the command line.

``status`` prints one row per component (and a line for every file that is not present) and exits 0 when every
required component is present, 1 otherwise. ``download`` fetches the missing files with a text progress bar on
stderr and exits 1 with a one-line reason when something fails (2 for a usage error, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from anygpt_desktop.engine import model_store
from anygpt_desktop.cancel import Cancelled
from anygpt_desktop.engine.downloader import DownloadError, human_size
from anygpt_desktop.layout import resolve_models_dir
from anygpt_desktop.engine.model_manifest import ManifestError, load_manifest
from anygpt_desktop.engine.model_store import FileState, ModelStoreError


def _size(n: int | None) -> str:
    return human_size(n, unknown="?")


def _models_root(args: argparse.Namespace) -> Path:
    return resolve_models_dir(getattr(args, "models", None))


def cmd_status(args: argparse.Namespace) -> int:
    """Print what is present, missing, partial or corrupt; exit 0 only if every required component is present."""
    root = _models_root(args)
    try:
        manifest = load_manifest()
        statuses = model_store.status(root, verify=bool(getattr(args, "verify", False)), manifest=manifest)
    except (ManifestError, ModelStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    approx = {c.name: c.approx_bytes for c in manifest.components}
    print(f"models folder: {root}")
    rows = [("COMPONENT", "NEEDED", "STATE", "ON DISK", "ABOUT")]
    for st in statuses:
        rows.append(
            (st.name, "required" if st.required else "optional", st.state.value, _size(st.bytes_on_disk),
             _size(approx.get(st.name) or None))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    # File lines only where a component is partly there (a wholly missing one is clear from its row).
    problems = [
        f
        for st in statuses
        if any(f.state is not FileState.MISSING for f in st.files if not f.optional)
        for f in st.files
        if f.state is not FileState.PRESENT and not (f.optional and f.state is FileState.MISSING)
    ]
    if problems:
        print()
        for f in problems:
            detail = f": {f.detail}" if f.detail else ""
            print(f"  {f.state.value:8} {f.dest}{detail}")
    ok = model_store.all_required_present(statuses)
    print()
    if ok:
        print("all required components are present")
    else:
        print("some required components are not ready: run `anygpt-desktop models download`")
    return 0 if ok else 1


class _ProgressBar:
    """A one-line text progress bar redrawn in place on a stream (stderr)."""

    def __init__(self, stream: TextIO, width: int = 30, min_interval_s: float = 0.2) -> None:
        self.stream = stream
        self.width = width
        self.min_interval_s = min_interval_s
        self._label = ""
        self._last_draw = 0.0
        self._dirty = False

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if label != self._label:
            self.finish()
            self._label = label
            self._last_draw = 0.0
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last_draw < self.min_interval_s:
            return
        self._last_draw = now
        if total:
            frac = min(done / total, 1.0)
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"[{bar}] {frac * 100:5.1f}% {_size(done)}/{_size(total)} {label}"
        else:
            text = f"[{'?' * self.width}] {_size(done)} {label}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._dirty = True
        if finished:
            self.finish()

    def finish(self) -> None:
        if self._dirty:
            self.stream.write("\n")
            self.stream.flush()
            self._dirty = False


def cmd_download(args: argparse.Namespace) -> int:
    """Download the named (default: all required) components; resumable, verified."""
    root = _models_root(args)
    try:
        manifest = load_manifest()
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = list(getattr(args, "components", None) or [])
    unknown = [n for n in names if n not in manifest.names]
    if unknown:
        print(
            f"error: unknown component(s) {', '.join(unknown)}; known: {', '.join(manifest.names)}", file=sys.stderr
        )
        return 2
    bar = _ProgressBar(sys.stderr)
    print(f"downloading into {root}", file=sys.stderr)
    try:
        report = model_store.download(
            root, names or None, include_base=bool(getattr(args, "base", False)), manifest=manifest, progress=bar
        )
    except KeyboardInterrupt:
        bar.finish()
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except Cancelled as exc:
        bar.finish()
        print(f"cancelled: {exc}", file=sys.stderr)
        return 130
    except (DownloadError, ModelStoreError, ManifestError) as exc:
        bar.finish()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar.finish()
    print(
        f"done: {len(report.downloaded)} file(s) downloaded, {len(report.skipped)} already present",
        file=sys.stderr,
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the memory plan; exit 0 when the assistant fits the budget, 1 when it does not."""
    from anygpt_desktop.engine import memory_plan

    vram = getattr(args, "vram", None)
    device = "cpu" if getattr(args, "cpu", False) else "cuda"
    if vram is not None:
        budget: int | None = int(vram * memory_plan.GiB)
    else:
        import torch

        from anygpt_desktop.engine.llm import memory_budget

        if device == "cuda" and not torch.cuda.is_available():
            device = "cpu"
        budget = memory_budget(torch.device(device))
    precision = getattr(args, "precision", None) or "auto"
    try:
        if precision == "auto":
            precision = memory_plan.choose_precision(budget, device) if budget is not None else "int8"
        plan = memory_plan.plan_memory(
            budget, precision, device, unclip_offload=True if getattr(args, "offload_unclip", False) else None
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in plan.lines():
        print(line)
    return 0 if plan.fits else 1
