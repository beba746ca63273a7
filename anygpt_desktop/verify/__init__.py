"""Cross-checks of this implementation against a reference kit laid out like ``shared/reference``.

Each family is a module in this package with ``run(kit: Kit) -> Iterable[CaseResult]``. Families are the folder
names under ``golden/`` plus ``manifests``; ``FAMILIES`` maps each name to the module that checks it.

A run fails (non-zero failures) when any case fails, when nothing at all was checked, when a family named by ``only``
is absent from the kit, and when a full run finds the kit without one of the families this version knows.

Every PASS line compares something this project computed with what the reference recorded. Float tolerances are the
error this implementation measured on the shared kit (CPU fp32, at 1 and at 4 threads), relative to
``max(1, max|ref|)``, times :data:`TOLERANCE_MARGIN`; each family states its measurements next to its constants.
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


TOLERANCE_MARGIN = 10.0  # over the largest error measured on the shared kit at 1 and at 4 threads


def float_tolerance(reference_max_abs: float, rel: float) -> float:
    """A float tolerance ``rel * max(1, max|ref|)``; ``rel`` is a measured error times :data:`TOLERANCE_MARGIN`."""
    return rel * max(1.0, reference_max_abs)


def run_family(kit: Kit, family: str) -> Iterator[CaseResult]:
    """Run one family, turning a crash of the checker into a failed case instead of an abort."""
    module_name = FAMILIES.get(family)
    if module_name is None:
        yield CaseResult(family, "*", False, detail="no checker for this family in this version")
        return
    module = importlib.import_module(module_name, __name__)
    run: Callable[[Kit], Iterable[CaseResult]] = module.run
    try:
        yield from run(kit)
    except Exception as exc:  # a checker bug or unreadable kit must not hide the other families
        logger.exception("family %s crashed", family)
        yield CaseResult(family, "*", False, detail=f"checker crashed: {type(exc).__name__}: {exc}")


def verify(kit_root: Path, only: list[str] | None = None, emit: Callable[[str], None] = print) -> int:
    """Run the families (all this version knows, or ``only``); print one line per case and a summary.

    Returns the number of failed cases; a family that is absent counts as a failure, and so does a run that checked
    nothing.
    """
    kit = Kit(Path(kit_root))
    if not kit.root.is_dir():
        raise FileNotFoundError(f"reference kit not found: {kit.root}")
    present = kit.families()
    families = only if only else sorted(set(FAMILIES) | set(present), key=_family_order)
    passed = failed = 0
    for family in families:
        if family not in present:
            why = "named by --only" if only else "a full run checks every family this version knows"
            emit(CaseResult(family, "*", False, detail=f"the kit at {kit.root} has no family {family!r} ({why})").line())
            failed += 1
            continue
        for result in run_family(kit, family):
            emit(result.line())
            if result.passed:
                passed += 1
            else:
                failed += 1
    if passed + failed == 0:
        emit(CaseResult("*", "*", False, detail=f"nothing was checked in {kit.root}").line())
        failed += 1
    emit(f"{passed} passed, {failed} failed")
    return failed


def _family_order(family: str) -> tuple[int, str]:
    order = list(FAMILIES)
    return (order.index(family), family) if family in order else (len(order), family)
