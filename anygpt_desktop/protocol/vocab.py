"""The AnyGPT vocabulary: 32,000 LLaMA-2 pieces followed by 21,520 added tokens (reference-behaviour §1.3).

The id layout is defined here once. ``Vocabulary.from_folder`` reads a model folder's tokenizer files and checks them
against the layout, so a folder that would make the model "talk nonsense" is refused with a readable reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LLAMA_VOCAB_SIZE = 32000
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
LLAMA_SPECIAL = {"<unk>": UNK_ID, "<s>": BOS_ID, "</s>": EOS_ID}
FIRST_TEXT_ID = EOS_ID + 1  # the first SentencePiece piece after <unk>, <s>, </s>
TEXT_ID_RANGE = (FIRST_TEXT_ID, LLAMA_VOCAB_SIZE)  # [start, end) of the plain text pieces
COLON_ID = 584  # "▁:" in the LLaMA-2 pieces: a reply's prompt ends with "[MMGPT]" ":"

HUMAN = "[Human]"
MMGPT = "[MMGPT]"
END_OF_HUMAN = "<eoh>"
END_OF_MMGPT = "<eos>"  # the chat turn end, NOT the tokenizer's EOS "</s>"
END_OF_MESSAGE = "<eom>"
ANYGPT = "[AnyGPT]"
RESPONSE_SEP = "<-Res->"
INSTRUCTION_SEP = "<-Ins->"

EMOJI = {
    "image": "\U0001F440",  # 👀
    "speech": "\U0001F5E3\uFE0F",  # 🗣️ (two code points: the variation selector is part of the token)
    "music": "\U0001F3B6",  # 🎶
    "audio": "\U0001F442",  # 👂 (general audio; unused by the released inference code)
}
UNIT_COUNT = {"image": 8192, "speech": 1024, "music": 8192, "audio": 4096}
SPAN_TAGS = {
    "image": ("<soim>", "<eoim>"),
    "speech": ("<sosp>", "<eosp>"),
    "music": ("<somu>", "<eomu>"),
    "audio": ("<soau>", "<eoau>"),
}
MODALITY_ORDER = ("image", "speech", "music", "audio")
SFT_TOKENS = (END_OF_MESSAGE, ANYGPT, RESPONSE_SEP, INSTRUCTION_SEP)


def unit_token(modality: str, value: int) -> str:
    """The token text of one unit, e.g. ``unit_token("speech", 5) == "<🗣️5>"``."""
    if not 0 <= value < UNIT_COUNT[modality]:
        raise ValueError(f"{modality} unit {value} outside 0..{UNIT_COUNT[modality] - 1}")
    return f"<{EMOJI[modality]}{value}>"


def anygpt_added_tokens() -> list[str]:
    """All added tokens in id order (index i has id 32000 + i), as the released chat tokenizer defines them."""
    tokens = [HUMAN, MMGPT, END_OF_HUMAN, END_OF_MMGPT]
    for modality in MODALITY_ORDER:
        tokens.extend(f"<{EMOJI[modality]}{k}>" for k in range(UNIT_COUNT[modality]))
        tokens.extend(SPAN_TAGS[modality])
    tokens.extend(SFT_TOKENS)
    return tokens


_LAYOUT = anygpt_added_tokens()
EXPECTED_IDS: dict[str, int] = {tok: LLAMA_VOCAB_SIZE + i for i, tok in enumerate(_LAYOUT)}
CHAT_VOCAB_SIZE = LLAMA_VOCAB_SIZE + len(_LAYOUT)  # 53520

UNIT_BASE_ID = {m: EXPECTED_IDS[unit_token(m, 0)] for m in MODALITY_ORDER}
SPAN_IDS = {m: (EXPECTED_IDS[s], EXPECTED_IDS[e]) for m, (s, e) in SPAN_TAGS.items()}
FIRST_UNIT_ID = UNIT_BASE_ID[MODALITY_ORDER[0]]  # every id from here on is a unit or a span/SFT tag, never text

HUMAN_ID = EXPECTED_IDS[HUMAN]
MMGPT_ID = EXPECTED_IDS[MMGPT]
END_OF_HUMAN_ID = EXPECTED_IDS[END_OF_HUMAN]
END_OF_MMGPT_ID = EXPECTED_IDS[END_OF_MMGPT]  # "<eos>": the chat turn's end
END_OF_MESSAGE_ID = EXPECTED_IDS[END_OF_MESSAGE]
ANYGPT_ID = EXPECTED_IDS[ANYGPT]
RESPONSE_SEP_ID = EXPECTED_IDS[RESPONSE_SEP]
INSTRUCTION_SEP_ID = EXPECTED_IDS[INSTRUCTION_SEP]
ROLE_IDS = (HUMAN_ID, MMGPT_ID, ANYGPT_ID)  # a role marker in a reply means the model began another turn
END_OF_TURN_IDS = (END_OF_MMGPT_ID, END_OF_MESSAGE_ID, EOS_ID)  # any of these ends a generated turn
# the smallest vocabulary we can run: every modality the inference code uses (image, speech, music) and the chat
# roles; the base model may lack the four SFT tokens (reference-behaviour §1.3, UNCERTAIN), so they are optional.
MIN_VOCAB_SIZE = EXPECTED_IDS["<eomu>"] + 1


class VocabularyError(ValueError):
    """A model folder's tokenizer files do not match the AnyGPT id layout."""


@dataclass(frozen=True)
class Vocabulary:
    """The token ↔ id map of one model folder, checked against the AnyGPT layout."""

    added: dict[str, int]  # added token text -> id (ids >= 32000), plus <unk>/<s>/</s>
    size: int  # total number of ids (LLaMA pieces + added tokens)

    @property
    def id_to_added(self) -> dict[int, str]:
        return {i: t for t, i in self.added.items()}

    def id(self, token: str) -> int:
        try:
            return self.added[token]
        except KeyError:
            raise VocabularyError(f"this model has no token {token!r}") from None

    def has(self, token: str) -> bool:
        return token in self.added

    @classmethod
    def chat_layout(cls) -> "Vocabulary":
        """The released chat model's vocabulary (53,520 ids), straight from the layout."""
        return cls(added={**LLAMA_SPECIAL, **EXPECTED_IDS}, size=CHAT_VOCAB_SIZE)

    @classmethod
    def from_folder(cls, folder: Path | str) -> "Vocabulary":
        """Read ``added_tokens.json`` (or ``tokenizer_config.json``) and ``config.json`` and check the layout."""
        folder = Path(folder)
        added = _read_added_tokens(folder)
        problems = check_layout(added)
        if problems:
            raise VocabularyError(
                f"{folder} does not hold the AnyGPT vocabulary: " + "; ".join(problems[:5])
                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
            )
        size = LLAMA_VOCAB_SIZE + len(added)
        config = folder / "config.json"
        if config.is_file():
            declared = json.loads(config.read_text(encoding="utf-8")).get("vocab_size")
            if declared is not None and declared != size:
                raise VocabularyError(
                    f"{folder}: config.json says vocab_size {declared} but the tokenizer files define {size} ids"
                )
        return cls(added={**LLAMA_SPECIAL, **added}, size=size)


def _read_added_tokens(folder: Path) -> dict[str, int]:
    path = folder / "added_tokens.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): int(v) for k, v in data.items() if int(v) >= LLAMA_VOCAB_SIZE}
    config = folder / "tokenizer_config.json"
    if config.is_file():
        decoder = json.loads(config.read_text(encoding="utf-8")).get("added_tokens_decoder", {})
        return {v["content"]: int(k) for k, v in decoder.items() if int(k) >= LLAMA_VOCAB_SIZE}
    raise VocabularyError(f"{folder} has neither added_tokens.json nor tokenizer_config.json")


def check_layout(added: dict[str, int]) -> list[str]:
    """Differences between a folder's added tokens and the AnyGPT layout, in words (empty when it matches).

    The ids must be contiguous from 32000, each present token must have its layout id, and the folder must define at
    least the tokens up to ``<eomu>`` (everything the inference code uses); the later groups are optional, whole.
    """
    problems: list[str] = []
    by_id = sorted(added.items(), key=lambda kv: kv[1])
    ids = [i for _, i in by_id]
    if ids and ids != list(range(LLAMA_VOCAB_SIZE, LLAMA_VOCAB_SIZE + len(ids))):
        problems.append(f"added ids are not contiguous from {LLAMA_VOCAB_SIZE} (found {ids[0]}..{ids[-1]}, {len(ids)} ids)")
    for token, i in by_id:
        want = EXPECTED_IDS.get(token)
        if want is None:
            problems.append(f"unknown added token {token!r} (id {i})")
        elif want != i:
            problems.append(f"token {token!r} has id {i}, the AnyGPT layout has {want}")
    n = LLAMA_VOCAB_SIZE + len(added)
    if n < MIN_VOCAB_SIZE:
        missing = [t for t, i in EXPECTED_IDS.items() if i < MIN_VOCAB_SIZE and t not in added]
        problems.append(f"{len(missing)} required tokens missing, e.g. {missing[:3]}")
    return problems
