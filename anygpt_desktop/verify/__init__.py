"""Cross-checks of this implementation against a reference kit laid out like ``shared/reference``.

Each family is a module in this package with ``run(kit: Kit) -> Iterable[CaseResult]``. Families are the folder
names under ``golden/`` plus ``manifests``; ``FAMILIES`` maps each name to the module that checks it.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

logger = logging.getLogger(__name__)

# family name -> module (relative to this package) that implements ``run(kit)``.
FAMILIES: dict[str, str] = {
    "tokenizer": ".tokenizer_family",
    "instructions": ".instructions_family",
    "speechtokenizer": ".speechtokenizer_family",
    "soundstorm": ".soundstorm_family",
    "seed": ".seed_family",
    "music": ".music_family",
    "manifests": ".manifests_family",
}


@dataclass
class CaseResult:
    """Outcome of one reference case."""

    family: str
    name: str
    passed: bool
    max_error: float | None = None
    detail: str = ""

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        err = "" if self.max_error is None else f" max_error={self.max_error:.3g}"
        detail = f"  {self.detail}" if self.detail else ""
        return f"{status} {self.family}/{self.name}{err}{detail}"


@dataclass
class Kit:
    """A reference kit folder (``golden/``, ``manifests/``, ``configs/``, ...)."""

    root: Path
    _json_cache: dict[Path, Any] = field(default_factory=dict, repr=False)

    @property
    def golden(self) -> Path:
        return self.root / "golden"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def json(self, relative: str | Path) -> Any:
        path = self.root / relative
        if path not in self._json_cache:
            self._json_cache[path] = json.loads(path.read_text(encoding="utf-8"))
        return self._json_cache[path]

    def families(self) -> list[str]:
        names = sorted(p.name for p in self.golden.iterdir() if p.is_dir()) if self.golden.is_dir() else []
        if self.manifests.is_dir():
            names.append("manifests")
        return names


def float_tolerance(reference_max_abs: float, rel: float = 1e-4) -> float:
    """The kit's general float tolerance: ``rel * max(1, max|ref|)``."""
    return rel * max(1.0, reference_max_abs)


def run_family(kit: Kit, family: str) -> Iterator[CaseResult]:
    """Run one family, turning a crash of the checker into a failed case instead of an abort."""
    module_name = FAMILIES.get(family)
    if module_name is None:
        yield CaseResult(family, "*", False, detail="no checker for this family in this version")
        return
    try:
        module = importlib.import_module(module_name, __name__)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith(module_name.lstrip(".")):
            yield CaseResult(family, "*", False, detail="no checker for this family in this version")
            return
        raise
    run: Callable[[Kit], Iterable[CaseResult]] = module.run
    try:
        yield from run(kit)
    except Exception as exc:  # a checker bug or unreadable kit must not hide the other families
        logger.exception("family %s crashed", family)
        yield CaseResult(family, "*", False, detail=f"checker crashed: {type(exc).__name__}: {exc}")


def verify(kit_root: Path, only: list[str] | None = None, emit: Callable[[str], None] = print) -> int:
    """Run the families (all found in the kit, or ``only``); print one line per case and a summary.

    Returns the number of failed cases.
    """
    kit = Kit(Path(kit_root))
    if not kit.root.is_dir():
        raise FileNotFoundError(f"reference kit not found: {kit.root}")
    families = only if only else kit.families()
    unknown = [f for f in families if f not in kit.families()]
    passed = failed = 0
    for family in unknown:
        emit(CaseResult(family, "*", False, detail=f"the kit at {kit.root} has no family {family!r}").line())
        failed += 1
    for family in families:
        if family in unknown:
            continue
        for result in run_family(kit, family):
            emit(result.line())
            if result.passed:
                passed += 1
            else:
                failed += 1
    emit(f"{passed} passed, {failed} failed")
    return failed
