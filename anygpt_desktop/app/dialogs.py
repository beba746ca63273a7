"""The window's small modal questions (file pickers, audio role, rename, delete, shortcuts)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from anygpt_desktop.session.chat import AUDIO_SUFFIXES, IMAGE_SUFFIXES
from anygpt_desktop.session.kinds import AttachmentKind

SHORTCUTS = (
    "Hold Space (outside the text box): talk (in “Click to talk” mode: press once to start, once to stop)\n"
    "Enter: send; Shift+Enter: new line in the message\nEsc: stop speaking and generating (interrupts a spoken reply)\n"
    "Ctrl+N: new conversation\nCtrl+O: attach a file\nCtrl+V in the text box: paste an image\n"
    "Ctrl+L: message box\nCtrl+K: conversation list\nCtrl+E / Ctrl+Shift+E: export Markdown / HTML\n"
    "Ctrl+M: model manager\nCtrl+R: reload the models\nCtrl+,: settings\nCtrl+Shift+D: dark theme\n"
    "Tab: move between controls; Enter/Space press buttons"
)


def show_shortcuts(parent: QWidget) -> None:
    QMessageBox.information(parent, "Keyboard shortcuts", SHORTCUTS)


def ask_audio_role(parent: QWidget, path: Path) -> AttachmentKind | None:
    """Whether an audio file is the spoken question, music input or the reply's voice; None if the user cancels."""
    box = QMessageBox(parent)
    box.setWindowTitle("Use this audio as…")
    box.setText(f"How should {path.name} be used?")
    roles = {
        box.addButton("Spoken question", QMessageBox.ButtonRole.AcceptRole): AttachmentKind.SPEECH,
        box.addButton("Music input", QMessageBox.ButtonRole.AcceptRole): AttachmentKind.MUSIC,
        box.addButton("Reply voice", QMessageBox.ButtonRole.AcceptRole): AttachmentKind.VOICE,
    }
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return roles.get(box.clickedButton())


def pick_files(parent: QWidget) -> list[str]:
    exts = " ".join(f"*{s}" for s in IMAGE_SUFFIXES + AUDIO_SUFFIXES)
    files, _ = QFileDialog.getOpenFileNames(parent, "Attach files", str(Path.home()), f"Images and audio ({exts})")
    return list(files)


def ask_title(parent: QWidget, old: str) -> str | None:
    dialog = QInputDialog(parent)
    dialog.setWindowTitle("Rename conversation")
    dialog.setLabelText("New title:")
    dialog.setTextValue(old)
    dialog.resize(420, dialog.sizeHint().height())  # room for the title bar's text
    return dialog.textValue() if dialog.exec() else None


def confirm_delete(parent: QWidget, title: str) -> bool:
    """Ask before deleting; the safe answer (Cancel) is the default, so Enter never deletes."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Delete conversation",
                      f"Delete “{title}” and its recordings, pictures and music? This cannot be undone.", parent=parent)
    delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.exec()
    return box.clickedButton() is delete


ABOUT = (
    "<h3>AnyGPT Desktop</h3>"
    "<p>A voice assistant that runs the AnyGPT chat model (speech, text, images and music) on this computer.</p>"
    "<p>Version {version}. Nothing you say or type leaves this computer.</p>"
)


def show_about(parent: QWidget) -> None:
    from anygpt_desktop import __version__

    QMessageBox.about(parent, "About AnyGPT Desktop", ABOUT.format(version=__version__))


def ask_folder(parent: QWidget, start: str) -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, "Export to folder", start or str(Path.home()))
    return Path(folder) if folder else None
