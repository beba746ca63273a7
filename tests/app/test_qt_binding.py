"""The installed Qt binding must not have PySide6 6.12.0's reference bug: every ``Signal.emit()`` there drops a
reference to ``True``, and after a few thousand signals (minutes of the level meter) the interpreter aborts."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from anygpt_desktop.app.main import qt_binding_problem


class _Emitter(QObject):
    sig_value_changed = Signal(float)


def test_signal_emit_keeps_the_reference_counts(qapp) -> None:  # type: ignore[no-untyped-def]
    emitter = _Emitter()
    emitter.sig_value_changed.connect(lambda _v: None)
    before = sys.getrefcount(True)
    for _ in range(200):
        emitter.sig_value_changed.emit(1.0)
    assert sys.getrefcount(True) - before > -50, "this PySide6 drops a reference on every emit: install another version"
    assert qt_binding_problem() is None


def test_the_broken_version_is_named(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import PySide6

    monkeypatch.setattr(PySide6, "__version__", "6.12.0")
    assert "PySide6-Essentials!=6.12.0" in (qt_binding_problem() or "")
