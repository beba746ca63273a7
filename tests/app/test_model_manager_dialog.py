"""The model manager dialog: components with size and state, use an existing folder, verify in a thread."""

from __future__ import annotations

from pathlib import Path

from anygpt_desktop.app.model_manager import ModelManagerDialog, human_size
from anygpt_desktop.app.settings import AppSettings
from anygpt_desktop.engine.model_manifest import load_manifest


def test_lists_every_component_with_size_and_state(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = AppSettings(tmp_path / "s.ini")
    dialog = ModelManagerDialog(tmp_path / "empty", settings)
    qtbot.addWidget(dialog)
    names = [c.name for c in load_manifest().components]
    assert dialog.table.rowCount() == len(names)
    assert [dialog.table.item(r, 0).text() for r in range(len(names))] == names
    assert all(dialog.table.item(r, 5).text() == "missing" for r in range(len(names)))
    chat = names.index("chat")
    assert dialog.table.item(chat, 3).text() == "—"  # nothing on disk
    assert dialog.table.item(chat, 4).text().endswith("GB")  # what the download fetches
    assert "Missing or incomplete" in dialog.message.text()
    totals = dialog.totals_label.text()
    assert "still to download" in totals and "GB" in totals and "free space here" in totals


def test_use_existing_folder_is_saved_and_verify_runs_in_a_thread(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = AppSettings(tmp_path / "s.ini")
    dialog = ModelManagerDialog(tmp_path / "a", settings)
    qtbot.addWidget(dialog)
    chosen: list[str] = []
    dialog.sig_models_dir_chosen.connect(chosen.append)
    folder = tmp_path / "b"
    (folder / "speechtokenizer").mkdir(parents=True)
    (folder / "speechtokenizer" / "config.json").write_text("{}")
    dialog.use_folder(folder)
    assert chosen == [str(folder)] and settings.get("models_dir") == str(folder)
    assert str(folder) in dialog.folder_label.text()
    dialog.refresh(verify=True)
    assert dialog.job is not None and not dialog.download_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=10000)
    assert dialog.download_button.isEnabled()
    assert dialog.table.rowCount() == len(load_manifest().components)
    assert dialog.message.text().startswith("Verified")  # the result is shown


def test_a_demo_folder_is_marked_and_never_downloaded_into(qtbot, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.engine import model_store

    calls: list[Path] = []
    monkeypatch.setattr(model_store, "download", lambda folder, **kw: calls.append(folder))
    dialog = ModelManagerDialog(tmp_path / "demo-models", AppSettings(tmp_path / "s.ini"), demo=True)
    qtbot.addWidget(dialog)
    assert "Demo folder" in dialog.folder_label.text()
    assert {dialog.table.item(r, 5).text() for r in range(dialog.table.rowCount())} == {"demo"}
    assert not dialog.download_button.isEnabled()
    dialog.download()
    assert dialog.job is None and calls == []


def test_human_size() -> None:
    assert human_size(None) == "—"
    assert human_size(512) == "512 B"
    assert human_size(1_400_000_000) == "1.4 GB"
