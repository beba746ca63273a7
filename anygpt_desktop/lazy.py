"""Registries name their entries as ``"module:attribute"`` and import them only when used (keeps start-up light)."""

from __future__ import annotations

import importlib
from typing import Any


def load_target(target: str) -> Any:
    """The attribute named by ``"package.module:attribute"``, importing its module now."""
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)
