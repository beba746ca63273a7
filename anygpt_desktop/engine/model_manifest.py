"""The model manifest: which components the app needs, where each file comes from and where it goes.

The manifest itself is data (``data/model_manifest.json``); this module reads it into small frozen dataclasses
and builds download URLs. Destinations are relative to the models folder and follow
:mod:`anygpt_desktop.layout` (a test keeps the two in step).

Hub files are fetched from ``{endpoint}/{repo}/resolve/{revision}/{path}``. The endpoint is
``$ANYGPT_HF_ENDPOINT``, else ``$HF_ENDPOINT``, else ``https://huggingface.co`` (tests point it at a local server).
``$ANYGPT_MODEL_MANIFEST`` replaces the bundled manifest with another JSON file of the same shape.

LLM weights are described by a list of *candidates* rather than one name, because the released file layout is not
certain: the store keeps the first candidate that exists, and a ``*.index.json`` candidate expands to the shard files
its ``weight_map`` names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ENV_HF_ENDPOINT = "ANYGPT_HF_ENDPOINT"
ENV_MANIFEST = "ANYGPT_MODEL_MANIFEST"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
DEFAULT_MANIFEST = Path(__file__).resolve().parent / "data" / "model_manifest.json"


class ManifestError(ValueError):
    """The manifest file is missing or malformed."""


@dataclass(frozen=True)
class RepoRef:
    """A hub repository at a revision (branch, tag or commit)."""

    repo: str
    revision: str = "main"


@dataclass(frozen=True)
class FileEntry:
    """One file of a component.

    ``path`` is the file's path inside the source repository (or, for URL sources, its name under ``dest_dir``);
    ``size``/``sha256`` are exact when known, else None; ``approx_bytes`` is only for display and planning.
    """

    path: str
    dest: str
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    approx_bytes: int | None = None
    optional: bool = False


@dataclass(frozen=True)
class WeightsSpec:
    """LLM weights whose file layout is discovered: the first existing candidate wins."""

    candidates: tuple[str, ...]
    approx_bytes: int | None = None


@dataclass(frozen=True)
class Component:
    """A downloadable unit (one model or tokenizer) with its files."""

    name: str
    purpose: str
    required: bool
    source_type: str  # "hf" or "url"
    sources: tuple[RepoRef, ...]  # primary first, then mirrors; empty for "url"
    dest_dir: str
    files: tuple[FileEntry, ...]
    weights: WeightsSpec | None = None
    notes: str = ""

    def dest_of(self, repo_path: str) -> str:
        """Destination (relative to the models folder) of a repository path of this component."""
        return f"{self.dest_dir}/{repo_path}" if self.dest_dir else repo_path

    def urls_for(self, repo_path: str, url: str | None = None) -> list[str]:
        """Candidate download URLs for one repository path, primary source first."""
        if self.source_type == "url":
            if not url:
                raise ManifestError(f"component {self.name!r}: file {repo_path!r} has no url")
            return [url]
        return [hub_url(ref, repo_path) for ref in self.sources]

    @property
    def approx_bytes(self) -> int:
        total = sum(f.approx_bytes or f.size or 0 for f in self.files)
        if self.weights is not None:
            total += self.weights.approx_bytes or 0
        return total


@dataclass(frozen=True)
class Manifest:
    components: tuple[Component, ...]
    path: Path | None = field(default=None, compare=False)

    def get(self, name: str) -> Component:
        for comp in self.components:
            if comp.name == name:
                return comp
        known = ", ".join(c.name for c in self.components)
        raise KeyError(f"unknown component {name!r} (known: {known})")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    def required(self) -> list[Component]:
        return [c for c in self.components if c.required]


def hf_endpoint() -> str:
    """The hub base URL, without a trailing slash."""
    value = os.environ.get(ENV_HF_ENDPOINT) or os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT
    return value.rstrip("/")


def hub_url(ref: RepoRef, repo_path: str) -> str:
    """``{endpoint}/{repo}/resolve/{revision}/{path}`` with the path URL-quoted."""
    return f"{hf_endpoint()}/{ref.repo}/resolve/{quote(ref.revision, safe='')}/{quote(repo_path)}"


def _parse_file(raw: dict, comp_name: str, dest_dir: str) -> FileEntry:
    try:
        path = str(raw["path"])
    except KeyError as exc:
        raise ManifestError(f"component {comp_name!r}: a file entry has no 'path'") from exc
    sha = raw.get("sha256")
    if sha is not None and (len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha.lower())):
        raise ManifestError(f"component {comp_name!r}: {path}: sha256 must be 64 hex digits")
    return FileEntry(
        path=path,
        dest=f"{dest_dir}/{path}" if dest_dir else path,
        url=raw.get("url"),
        size=raw.get("size"),
        sha256=sha.lower() if sha else None,
        approx_bytes=raw.get("approx_bytes"),
        optional=bool(raw.get("optional", False)),
    )


def _parse_component(raw: dict) -> Component:
    name = raw.get("name")
    if not name:
        raise ManifestError("a component has no 'name'")
    source = raw.get("source") or {}
    source_type = source.get("type")
    if source_type == "hf":
        refs = [RepoRef(source["repo"], source.get("revision", "main"))]
        refs += [RepoRef(m["repo"], m.get("revision", "main")) for m in source.get("mirrors", [])]
    elif source_type == "url":
        refs = []
    else:
        raise ManifestError(f"component {name!r}: source type must be 'hf' or 'url', not {source_type!r}")
    dest_dir = str(raw.get("dest_dir", "")).strip("/")
    files = tuple(_parse_file(f, name, dest_dir) for f in raw.get("files", []))
    if source_type == "url" and any(not f.url for f in files):
        raise ManifestError(f"component {name!r}: every file of a url source needs a 'url'")
    weights = None
    if raw.get("weights"):
        w = raw["weights"]
        if source_type != "hf" or not w.get("candidates"):
            raise ManifestError(f"component {name!r}: 'weights' needs a hub source and a candidate list")
        weights = WeightsSpec(tuple(w["candidates"]), w.get("approx_bytes"))
    return Component(
        name=name,
        purpose=raw.get("purpose", ""),
        required=bool(raw.get("required", True)),
        source_type=source_type,
        sources=tuple(refs),
        dest_dir=dest_dir,
        files=files,
        weights=weights,
        notes=raw.get("notes", ""),
    )


def load_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Read a manifest: ``path``, else ``$ANYGPT_MODEL_MANIFEST``, else the bundled one."""
    chosen = Path(path or os.environ.get(ENV_MANIFEST) or DEFAULT_MANIFEST)
    try:
        data = json.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"model manifest not found: {chosen}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"model manifest {chosen} is not valid JSON: {exc}") from exc
    components = tuple(_parse_component(c) for c in data.get("components", []))
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise ManifestError(f"model manifest {chosen}: duplicate component names")
    return Manifest(components=components, path=chosen)
