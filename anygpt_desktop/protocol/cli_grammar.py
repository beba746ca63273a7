"""The reference CLIs' input line grammars (reference-behaviour §2.2, §2.5), in the code's field order.

Chat: ``task|text|output modality|voice prompt|images|speech files|music files`` (comma-separated lists; the
reference README swaps fields 3 and 4, the code does not). Base: ``modality|to_modality|data[|voice_prompt]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class LineError(ValueError):
    """An input line that does not follow the grammar."""


@dataclass(frozen=True)
class ChatLine:
    task: str = "interleaved"
    text: str = ""
    output_modality: str = "text"
    voice_prompt: str | None = None
    images: tuple[str, ...] = ()
    speech: tuple[str, ...] = ()
    music: tuple[str, ...] = ()
    clear: bool = False
    quit: bool = False


def _paths(field_text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in field_text.split(",") if p.strip())


def parse_chat_line(line: str) -> ChatLine:
    """Parse one chat line. A line without ``|`` is plain typed text (an addition of this product)."""
    stripped = line.strip()
    if stripped == "quit":
        return ChatLine(quit=True)
    if "|" not in stripped:
        return ChatLine(text=stripped)
    fields = [f.strip() for f in stripped.split("|")]
    fields += [""] * (7 - len(fields))
    if fields[1] == "clear":
        return ChatLine(clear=True)
    output = fields[2] if fields[2] in ("speech", "image", "music") else "text"
    return ChatLine(
        task=fields[0] or "interleaved",
        text=fields[1],
        output_modality=output,
        voice_prompt=fields[3] or None,
        images=_paths(fields[4]),
        speech=_paths(fields[5]),
        music=_paths(fields[6]),
    )


@dataclass(frozen=True)
class BaseLine:
    modality: str
    to_modality: str
    data: str
    voice_prompt: str | None = field(default=None)


BASE_TASKS = {
    ("text", "image"),
    ("image", "text"),
    ("text", "speech"),
    ("speech", "text"),
    ("text", "music"),
    ("music", "text"),
}


def parse_base_line(line: str) -> BaseLine:
    """Parse ``modality|to_modality|data[|voice_prompt]``; unsupported pairs get a clear error."""
    fields = line.rstrip("\n").split("|")
    if len(fields) < 3:
        raise LineError("expected 'modality|to_modality|data', e.g. 'text|speech|Hello there'")
    modality, to_modality = fields[0].strip(), fields[1].strip()
    if (modality, to_modality) not in BASE_TASKS:
        supported = ", ".join(f"{a}|{b}" for a, b in sorted(BASE_TASKS))
        raise LineError(f"unsupported task {modality}|{to_modality}; supported: {supported}")
    voice = fields[3].strip() if len(fields) > 3 and fields[3].strip() else None
    return BaseLine(modality, to_modality, fields[2].strip(), voice)
