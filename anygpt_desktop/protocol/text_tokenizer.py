"""Text ↔ ids exactly as the released slow LLaMA tokenizer did under transformers 4.34.1 (``legacy=True``, reference-behaviour §1.4).

Rule: added tokens are cut out of *trusted* text first (the text we build: templates, unit strings, the model's own
earlier replies); every remaining text run is encoded on its own by SentencePiece, which prepends its dummy ``▁``.
Text a user typed is wrapped in :class:`UserText` and is never searched for added tokens, so ``<sosp>`` typed by a
user is five ordinary pieces, not the speech-start token.

Decoding reproduces 4.34.1's ``batch_decode(skip_special_tokens=True)``: ``<unk> <s> </s>`` dropped, every added token
its own piece, each run of ordinary pieces decoded with its first ``▁`` removed, pieces joined by one space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import sentencepiece as spm

from anygpt_desktop.protocol.vocab import LLAMA_SPECIAL, LLAMA_VOCAB_SIZE, Vocabulary

_CANDIDATE = re.compile(r"<[^<>]*>|\[[^\[\]]*\]")  # every added token is <...> or [...] without inner brackets
_SPIECE_UNDERLINE = "\u2581"


@dataclass(frozen=True)
class UserText:
    """Text typed or spoken by the user: always ordinary text tokens, whatever it contains."""

    text: str

    def __str__(self) -> str:
        return self.text


Segment = Union[str, UserText]


class TokenizerFilesError(FileNotFoundError):
    """A model folder lacks the SentencePiece model."""


class AnyGPTTokenizer:
    """SentencePiece (LLaMA-2) plus the AnyGPT added tokens."""

    def __init__(self, sp_model_path: Path | str, vocab: Vocabulary) -> None:
        sp_model_path = Path(sp_model_path)
        if not sp_model_path.is_file():
            raise TokenizerFilesError(f"tokenizer model not found: {sp_model_path}")
        self.sp = spm.SentencePieceProcessor(model_file=str(sp_model_path))
        if self.sp.get_piece_size() != LLAMA_VOCAB_SIZE:
            raise ValueError(f"{sp_model_path} has {self.sp.get_piece_size()} pieces, LLaMA-2 has {LLAMA_VOCAB_SIZE}")
        self.vocab = vocab
        self._added = dict(vocab.added)  # includes <unk>/<s>/</s>, as 4.34.1's added-token trie did
        self._id_to_added = {i: t for t, i in self._added.items()}

    @classmethod
    def from_folder(cls, folder: Path | str) -> "AnyGPTTokenizer":
        folder = Path(folder)
        return cls(folder / "tokenizer.model", Vocabulary.from_folder(folder))

    # -- encoding -------------------------------------------------------------------------------------------------
    def split_trusted(self, text: str) -> list[tuple[bool, str]]:
        """Cut added tokens out of trusted text: ``[(is_added_token, text), ...]`` (empty text runs dropped)."""
        parts: list[tuple[bool, str]] = []
        start = pos = 0
        while True:
            match = _CANDIDATE.search(text, pos)
            if match is None:
                break
            if match.group() in self._added:
                if match.start() > start:
                    parts.append((False, text[start : match.start()]))
                parts.append((True, match.group()))
                start = pos = match.end()
            else:
                pos = match.start() + 1  # a token may still start inside this bracket pair
        if start < len(text):
            parts.append((False, text[start:]))
        return parts

    def encode(self, segments: Segment | Sequence[Segment], add_bos: bool = True) -> list[int]:
        """Ids of a prompt given as trusted strings and :class:`UserText` parts (``<s>`` first unless disabled)."""
        if isinstance(segments, (str, UserText)):
            segments = [segments]
        ids = [LLAMA_SPECIAL["<s>"]] if add_bos else []
        pending_text: list[str] = []

        def flush() -> None:
            run = "".join(pending_text)
            pending_text.clear()
            if run:
                ids.extend(self.sp.encode(run))

        for segment in segments:
            if isinstance(segment, UserText):
                pending_text.append(segment.text)
                continue
            for is_token, text in self.split_trusted(segment):
                if is_token:
                    flush()
                    ids.append(self._added[text])
                else:
                    pending_text.append(text)
        flush()
        return ids

    def pieces(self, ids: Iterable[int]) -> list[str]:
        """Token texts of ids (added tokens by name, others as SentencePiece pieces)."""
        return [self._id_to_added.get(i) or self.sp.id_to_piece(i) for i in ids]

    # -- decoding -------------------------------------------------------------------------------------------------
    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """The text 4.34.1's ``batch_decode(..., skip_special_tokens=True)`` returned for these ids.

        The legacy rule: ``<s>``/``</s>``/``<unk>`` are dropped; every added token is its own chunk; each run of
        ordinary pieces between them is one chunk (:meth:`decode_text_run`); chunks are joined with one space. A run
        that decodes to ``""`` (a lone ``▁▁``, i.e. one space typed next to an added token) is dropped when an added
        token follows it, but the *last* run is always kept, so ``"<eoh> "`` decodes to ``"<eoh> "`` (the join adds
        the space) while ``" <eoh>"`` decodes to ``"<eoh>"``.
        """
        chunks: list[str] = []
        run: list[int] = []
        for i in ids:
            if skip_special_tokens and i in (0, 1, 2):
                continue
            token = self._id_to_added.get(i)
            if token is not None:
                if run:
                    text = self.decode_text_run(run)
                    if text:  # an empty run before an added token is dropped
                        chunks.append(text)
                    run = []
                chunks.append(token)
            else:
                run.append(i)
        if run:
            chunks.append(self.decode_text_run(run))  # the last run is kept even when it decodes to ""
        return " ".join(chunks)

    def decode_text_run(self, ids: Sequence[int]) -> str:
        """One run of ordinary pieces as text, its first ``▁`` removed (the dummy prefix)."""
        pieces = [self.sp.id_to_piece(i) for i in ids]
        if pieces and pieces[0].startswith(_SPIECE_UNDERLINE):
            pieces[0] = pieces[0][1:]
        return self.sp.decode_pieces(pieces)

    def is_added(self, token_id: int) -> bool:
        return token_id in self._id_to_added and token_id >= LLAMA_VOCAB_SIZE

    def token_of(self, token_id: int) -> str | None:
        """The added token's text for an id, or None for an ordinary piece."""
        return self._id_to_added.get(token_id)
