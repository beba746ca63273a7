"""Prompt rendering for the chat model (MMGPT template, multi-turn history) and the base-model tasks (reference-behaviour §2).

Prompts are lists of segments: trusted strings we build (role markers, unit spans, the model's own earlier replies)
and :class:`UserText` (what the user typed). ``"".join(map(str, segments))`` is byte-identical to the reference's
prompt string; :meth:`AnyGPTTokenizer.encode` turns segments into the reference's ids, keeping user text inert.

Reference quirks kept on purpose because they change what the released model sees:
* the stored assistant reply starts with ``": "`` (``[MMGPT]: : reply<eos>``, reference-behaviour §2.6);
* unit tokens inside stored replies are space-separated (decoded text re-tokenised);
* a speech input appends " Please recognize the voice command and give reply and voice" (two spaces when the typed
  text is empty);
* the separator after a message is chosen by its position, not its role (only matters for a dangling message).
Quirk fixed because it only hurts: a failed turn does not leave its user message in the history (reference-behaviour §11.5);
``Conversation.keep_failed_user_messages`` restores the reference's behaviour for verification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from anygpt_desktop.protocol.text_tokenizer import Segment, UserText
from anygpt_desktop.protocol.vocab import ANYGPT, END_OF_HUMAN, END_OF_MESSAGE, END_OF_MMGPT, HUMAN, MMGPT

SYSTEM_MMGPT = (
    "You are an AI assistant named MMGPT who can understand and generate multimodal content, "
    "including text, speech, images and audio."
)
SYSTEM_ANYGPT = (
    "You are an AI assistant named AnyGPT who can understand and generate multimodal content, "
    "including text, speech, images and audio."
)
SPEECH_INSTRUCTION_SUFFIX = "Please recognize the voice command and give reply and voice"
SPEECH_RESPONSE_SEP = "<eot>"  # plain text, not a token (reference-behaviour §1.3)
MAX_USER_TEXT_CHARS = 12_000
"""The longest typed message accepted (about 3,000 tokens of English: what fits the model's 4,096-token context with
room for the reply). A longer one is refused before it is tokenized, so a pasted megabyte never reaches the model."""


class UserTextTooLongError(ValueError):
    """Typed text above :data:`MAX_USER_TEXT_CHARS`; the message names the limit."""


def check_user_text(text: str) -> None:
    """Raise :class:`UserTextTooLongError` when ``text`` is longer than the model can take."""
    if len(text) > MAX_USER_TEXT_CHARS:
        raise UserTextTooLongError(
            f"the message is {len(text):,} characters long; the limit is {MAX_USER_TEXT_CHARS:,} characters "
            "(what the model can read at once). Shorten it or split it over several turns."
        )


@dataclass(frozen=True)
class ConversationTemplate:
    """A FastChat ``ADD_COLON_TWO`` template as the reference registers it."""

    name: str
    system: str
    roles: tuple[str, str]
    sep: str
    sep2: str


MMGPT_TEMPLATE = ConversationTemplate("MMGPT", SYSTEM_MMGPT, (HUMAN, MMGPT), END_OF_HUMAN, END_OF_MMGPT)
ANYGPT_TEMPLATE = ConversationTemplate("AnyGPT", SYSTEM_ANYGPT, (HUMAN, ANYGPT), END_OF_HUMAN, END_OF_MESSAGE)


@dataclass(frozen=True)
class Message:
    role: str
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "".join(str(s) for s in self.segments)


@dataclass
class Conversation:
    """The chat history and its rendering (the chat CLI uses the MMGPT template)."""

    template: ConversationTemplate = MMGPT_TEMPLATE
    messages: list[Message] = field(default_factory=list)

    def append_user(self, segments: Sequence[Segment]) -> None:
        self.messages.append(Message(self.template.roles[0], tuple(segments)))

    def append_assistant(self, stored_reply: str) -> None:
        """Store a reply as the reference does: the text it extracted (with its leading ": ")."""
        self.messages.append(Message(self.template.roles[1], (stored_reply,)))

    def clear(self) -> None:
        self.messages.clear()

    def render(self, pending_user: Sequence[Segment] | None = None) -> list[Segment]:
        """Prompt segments for the history plus an optional new user message, ending with ``[MMGPT]:``."""
        t = self.template
        messages = list(self.messages)
        if pending_user is not None:
            messages.append(Message(t.roles[0], tuple(pending_user)))
        out: list[Segment] = [t.system + "\n"]
        for i, message in enumerate(messages):
            out.append(message.role + ": ")
            out.extend(message.segments)
            if i % 2 == 0:  # by position, as the reference does
                out.append(t.sep + "\n")
            else:
                out.append(t.sep2 + ("\n" if i < len(messages) - 1 else ""))
        if messages and messages[-1].role == t.roles[0]:
            out.append(t.roles[1] + ":")
        return out

    def to_json(self) -> dict:
        """A JSON-able form (user text kept marked as user text)."""
        return {
            "template": self.template.name,
            "messages": [
                {"role": m.role, "segments": [{"user": isinstance(s, UserText), "text": str(s)} for s in m.segments]}
                for m in self.messages
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Conversation":
        template = {"MMGPT": MMGPT_TEMPLATE, "AnyGPT": ANYGPT_TEMPLATE}[data.get("template", "MMGPT")]
        conv = cls(template=template)
        for m in data["messages"]:
            segs = tuple(UserText(s["text"]) if s["user"] else s["text"] for s in m["segments"])
            conv.messages.append(Message(m["role"], segs))
        return conv


def render_text(segments: Iterable[Segment]) -> str:
    return "".join(str(s) for s in segments)


def _strip_segments(segments: list[Segment]) -> list[Segment]:
    """``str.strip()`` of the concatenation, applied across segment boundaries, keeping segment kinds."""
    segs = [s for s in segments if str(s)]

    def rebuild(seg: Segment, text: str) -> Segment:
        return UserText(text) if isinstance(seg, UserText) else text

    while segs and not str(segs[0]).lstrip():
        segs.pop(0)
    if segs:
        segs[0] = rebuild(segs[0], str(segs[0]).lstrip())
    while segs and not str(segs[-1]).rstrip():
        segs.pop()
    if segs:
        segs[-1] = rebuild(segs[-1], str(segs[-1]).rstrip())
    return segs


def interleaved_user_message(
    text: str | UserText = "",
    images: Sequence[str] = (),
    music: Sequence[str] = (),
    speech: Sequence[str] = (),
) -> list[Segment]:
    """The chat CLI's ``interleaved`` task prompt: images, music, speech unit strings, each followed by a space, then
    the typed text; with speech, the Speech-Instruction suffix; the whole stripped.

    ``images``/``music``/``speech`` are unit strings (:func:`units_to_string`); ``text`` is user text.
    """
    user = text if isinstance(text, UserText) else UserText(text)
    check_user_text(user.text)
    segments: list[Segment] = [unit + " " for unit in (*images, *music, *speech)]
    segments.append(user)
    if speech:
        segments.append(" " + SPEECH_INSTRUCTION_SUFFIX)
    return _strip_segments(segments)


def base_prompt(input_modality: str, instruction: str, data: str | UserText) -> list[Segment]:
    """A base-model task prompt (reference-behaviour §2.2).

    Text input (text → image/speech/music): ``[Human]: {instruction} This is input: {text}<eoh> [MMGPT]:``.
    Media input (x → text): ``[Human]: {instruction} {unit string}<eoh> [MMGPT]:``.
    """
    if input_modality == "text":
        user = data if isinstance(data, UserText) else UserText(data)
        check_user_text(user.text)
        return [f"{HUMAN}: {instruction} This is input: ", user, f"{END_OF_HUMAN} {MMGPT}:"]
    return [f"{HUMAN}: {instruction} {data}{END_OF_HUMAN} {MMGPT}:"]
