"""The reference CLIs' text-level extraction rules (reference-behaviour §3.4), for verification and for storing history.

The product parses the token stream with :mod:`anygpt_desktop.protocol.stream_parser`; these functions reproduce
what the reference did with the decoded text, so history can be stored exactly as the released model expects it and
the golden cases can be checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from anygpt_desktop.protocol.vocab import END_OF_MESSAGE, END_OF_MMGPT, MMGPT, SPAN_TAGS

_DIGITS = re.compile(r"\d+")


class ReplyExtractionError(ValueError):
    """The reply has no end tag: the reference aborted the turn here."""


def extract_text_between_tags(text: str, tag1: str, tag2: str) -> str:
    """Base CLI rule: after the first ``tag1`` up to the next ``tag2`` (stripped); no ``tag2`` → the rest unstripped;
    no ``tag1`` → the whole text."""
    start = text.find(tag1)
    if start == -1:
        return text
    start += len(tag1)
    end = text.find(tag2, start)
    if end == -1:
        return text[start:]
    return text[start:end].strip()


def extract_content_between_final_tags(text: str, tag1: str, tag2: str) -> str | None:
    """Chat CLI rule: between the last ``tag1`` and the last ``tag2``; None if either is missing or out of order."""
    start = text.rfind(tag1)
    end = text.rfind(tag2)
    if start == -1 or end == -1 or start + len(tag1) > end:
        return None
    return text[start + len(tag1) : end]


def chat_reply(decoded: str) -> str:
    """The stored chat reply: last ``[MMGPT]`` … last ``<eom>``, else … last ``<eos>``, stripped (keeps ``": "``)."""
    for end_tag in (END_OF_MESSAGE, END_OF_MMGPT):
        content = extract_content_between_final_tags(decoded, MMGPT, end_tag)
        if content is not None:
            return content.strip()
    raise ReplyExtractionError("the model's reply has no end tag (<eos> or <eom>)")


def chat_detected_modality(decoded: str) -> str:
    """The chat CLI's output modality: the first span start found anywhere in the text (prompt included)."""
    for modality in ("image", "speech", "music", "audio"):
        if SPAN_TAGS[modality][0] in decoded:
            return modality
    return "text"


@dataclass(frozen=True)
class SpanContent:
    modality: str
    content: str
    units: list[int]


def chat_postprocess_spans(reply: str) -> list[SpanContent]:
    """For image, speech, music: the content between the last start and last end tag inside the reply."""
    found: list[SpanContent] = []
    for modality in ("image", "speech", "music"):
        start, end = SPAN_TAGS[modality]
        content = extract_content_between_final_tags(reply, start, end)
        if content is not None:
            found.append(SpanContent(modality, content, [int(d) for d in _DIGITS.findall(content)]))
    return found


def base_text_result(decoded: str) -> str:
    """What the base CLI prints for a text output."""
    return extract_text_between_tags(decoded, f"{MMGPT} : ", END_OF_MMGPT).strip()


def base_modality_content(decoded: str, modality: str) -> SpanContent:
    """The base CLI's span for a media output: first start tag … next end tag; every digit run counts as a unit."""
    start, end = SPAN_TAGS[modality]
    content = extract_text_between_tags(decoded, start, end)
    return SpanContent(modality, content, [int(d) for d in _DIGITS.findall(content)])
