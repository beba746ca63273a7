"""Moved to :mod:`anygpt_desktop.cancel` (the one cancel contract); this name goes away once every import moved."""

from anygpt_desktop.cancel import Cancelled, TaskState

__all__ = ["Cancelled", "TaskState"]
