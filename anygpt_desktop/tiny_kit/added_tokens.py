"""The AnyGPT-chat added-token list and tokenizer files, generated from the id layout (reference-behaviour §1.3, §11.2).

The released chat checkpoint adds 21,520 non-special tokens to the 32,000-piece LLaMA-2 SentencePiece vocabulary, in
groups: role markers, then for each modality its unit tokens followed by its start/end tags, then four SFT tokens.
``added_tokens_json()`` and ``tokenizer_config_json()`` reproduce the released files byte for byte
(``json.dumps(indent=2, sort_keys=True, ensure_ascii=False)`` plus a final newline).
"""

from __future__ import annotations

import json
from typing import Any

LLAMA_VOCAB_SIZE = 32000

# Emoji of the unit tokens; 🗣️ is two code points (U+1F5E3 U+FE0F).
IMAGE_EMOJI = "\U0001f440"
SPEECH_EMOJI = "\U0001f5e3\ufe0f"
MUSIC_EMOJI = "\U0001f3b6"
AUDIO_EMOJI = "\U0001f442"

ROLE_TOKENS = ("[Human]", "[MMGPT]", "<eoh>", "<eos>")
# (emoji, number of units, start tag, end tag), in the order the groups were added.
MODALITY_GROUPS = (
    (IMAGE_EMOJI, 8192, "<soim>", "<eoim>"),
    (SPEECH_EMOJI, 1024, "<sosp>", "<eosp>"),
    (MUSIC_EMOJI, 8192, "<somu>", "<eomu>"),
    (AUDIO_EMOJI, 4096, "<soau>", "<eoau>"),
)
SFT_TOKENS = ("<eom>", "[AnyGPT]", "<-Res->", "<-Ins->")

_TOKEN_FLAGS = {"lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
_SPECIAL_BASE = ((0, "<unk>"), (1, "<s>"), (2, "</s>"))


def added_token_strings() -> list[str]:
    """All added token strings in id order; the i-th has id ``32000 + i``."""
    tokens = list(ROLE_TOKENS)
    for emoji, count, start, end in MODALITY_GROUPS:
        tokens.extend(f"<{emoji}{k}>" for k in range(count))
        tokens.extend((start, end))
    tokens.extend(SFT_TOKENS)
    return tokens


def vocab_size() -> int:
    """LLaMA pieces plus added tokens (53,520 for AnyGPT-chat)."""
    return LLAMA_VOCAB_SIZE + len(added_token_strings())


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def added_tokens_json() -> str:
    """Text of ``added_tokens.json``: token string -> id."""
    return _dump({tok: LLAMA_VOCAB_SIZE + i for i, tok in enumerate(added_token_strings())})


def tokenizer_config_dict() -> dict[str, Any]:
    """The chat checkpoint's ``tokenizer_config.json`` content (transformers 4.34 format)."""
    decoder: dict[str, dict[str, Any]] = {}
    for idx, content in _SPECIAL_BASE:
        decoder[str(idx)] = {"content": content, **_TOKEN_FLAGS, "special": True}
    for i, tok in enumerate(added_token_strings()):
        decoder[str(LLAMA_VOCAB_SIZE + i)] = {"content": tok, **_TOKEN_FLAGS, "special": False}
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": decoder,
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": True,
        "model_max_length": 4096,
        "pad_token": "<unk>",
        "padding_side": "left",
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": True,
        "use_fast": False,
    }


def tokenizer_config_json() -> str:
    """Text of ``tokenizer_config.json``."""
    return _dump(tokenizer_config_dict())


def special_tokens_map_json() -> str:
    """Text of ``special_tokens_map.json`` (not found for the release; written in the usual transformers form)."""
    entry = {"lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    return _dump(
        {
            "bos_token": {"content": "<s>", **entry},
            "eos_token": {"content": "</s>", **entry},
            "pad_token": {"content": "<unk>", **entry},
            "unk_token": {"content": "<unk>", **entry},
        }
    )
