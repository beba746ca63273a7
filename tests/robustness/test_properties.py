"""Property-based tests: the audio and image readers on random bytes and random headers, the stream parser on random
id streams. Readers either return a usable result or raise their own user-facing error; the parser never raises."""

from __future__ import annotations

import io
import struct
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anygpt_desktop.audio.errors import AudioInputError
from anygpt_desktop.audio.files import read_audio
from anygpt_desktop.modalities.image.image_input import ImageInputError, open_image
from anygpt_desktop.protocol.stream_parser import (
    Diagnostic,
    SpanFinished,
    SpanStarted,
    StreamParser,
    ParsedText,
    TurnEnded,
    UnitsDelta,
    span_problem,
)
from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer
from anygpt_desktop.protocol.vocab import CHAT_VOCAB_SIZE, EXPECTED_IDS, SPAN_IDS, UNIT_BASE_ID, UNIT_COUNT, Vocabulary

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _wav(fmt: int, channels: int, rate: int, bits: int, declared: int, payload: bytes) -> bytes:
    block = max(1, channels * bits // 8)
    return (b"RIFF" + struct.pack("<I", (36 + declared) & 0xFFFFFFFF) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
            + b"data" + struct.pack("<I", declared & 0xFFFFFFFF) + payload)


def _read(path: Path) -> None:
    try:
        loaded = read_audio(path, 16000, max_seconds=60, allow_silent=True)
    except AudioInputError as exc:
        assert str(exc).strip()
        return
    assert loaded.wav.dtype == np.float32 and np.isfinite(loaded.wav).all() and loaded.wav.ndim == 1


@FAST
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".bin"]))
def test_audio_reader_on_random_bytes(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    _read(path)


@FAST
@given(
    fmt=st.sampled_from([1, 3, 6, 7, 0xFFFE, 0, 99]),
    channels=st.integers(0, 70),
    rate=st.sampled_from([0, 1, 8000, 16000, 44100, 96000, 192000, 400000, 2**31 - 1]),
    bits=st.sampled_from([0, 8, 12, 16, 24, 32, 64]),
    declared=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=4096),
)
def test_audio_reader_on_random_wav_headers(tmp_path: Path, fmt, channels, rate, bits, declared, payload) -> None:
    path = tmp_path / "header.wav"
    path.write_bytes(_wav(fmt, channels, rate, bits, declared, payload))
    _read(path)


def _open(source: bytes) -> None:
    try:
        img = open_image(source)
    except ImageInputError as exc:
        assert str(exc).strip()
        return
    assert img.mode == "RGB" and img.width >= 1 and img.height >= 1


@FAST
@given(data=st.binary(max_size=4096))
def test_image_reader_on_random_bytes(data: bytes) -> None:
    _open(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


@FAST
@given(
    width=st.integers(0, 2**31 - 1),
    height=st.integers(0, 2**31 - 1),
    depth=st.sampled_from([1, 2, 4, 8, 16, 3]),
    colour=st.sampled_from([0, 2, 3, 4, 6, 5]),
    body=st.binary(max_size=512),
)
def test_image_reader_on_random_png_headers(width, height, depth, colour, body) -> None:
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
           + _png_chunk(b"IDAT", zlib.compress(body)) + _png_chunk(b"IEND", b""))
    _open(png)


@FAST
@given(prefix=st.integers(1, 400))
def test_image_reader_on_truncated_files(prefix: int) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(48 * 40 * 3, dtype=np.uint8).reshape(40, 48, 3) % 251).save(buf, format="PNG")
    _open(buf.getvalue()[:prefix])


# ------------------------------------------------------------------------------------------------ stream parser


@pytest.fixture(scope="module")
def tokenizer() -> AnyGPTTokenizer:
    model = resources.files("anygpt_desktop.tiny_kit").joinpath("data", "llama2_tokenizer.model")
    return AnyGPTTokenizer(str(model), Vocabulary.chat_layout())


_MARKERS = sorted({*EXPECTED_IDS.values()} - {i for m in UNIT_BASE_ID for i in range(UNIT_BASE_ID[m], UNIT_BASE_ID[m] + 3)})
_ids = st.one_of(
    st.integers(0, CHAT_VOCAB_SIZE - 1),  # anything the model can emit
    st.integers(3, 31999),  # plain text pieces
    st.sampled_from([i for pair in SPAN_IDS.values() for i in pair] + [EXPECTED_IDS[t] for t in ("<eos>", "<eom>", "<-Res->", "<-Ins->", "[Human]", "[MMGPT]")] + [2]),
    st.builds(lambda m, v: UNIT_BASE_ID[m] + v % UNIT_COUNT[m], st.sampled_from(sorted(UNIT_BASE_ID)), st.integers(0, 8191)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(_ids, max_size=120))
def test_stream_parser_never_raises_and_keeps_its_invariants(tokenizer: AnyGPTTokenizer, ids: list[int]) -> None:
    parser = StreamParser(tokenizer)
    events = []
    for i in ids:
        events.extend(parser.feed(i))
    events.extend(parser.finish())
    assert parser.finish() == [] or all(isinstance(e, Diagnostic) for e in parser.finish())

    # spans are balanced: every start is followed by its units and one finish of the same modality, never nested
    open_modality = None
    units: list[int] = []
    for ev in events:
        if isinstance(ev, SpanStarted):
            assert open_modality is None
            open_modality, units = ev.modality, []
        elif isinstance(ev, UnitsDelta):
            assert ev.modality == open_modality
            assert all(0 <= u < UNIT_COUNT[ev.modality] for u in ev.units)
            units.extend(ev.units)
        elif isinstance(ev, SpanFinished):
            assert ev.modality == open_modality and list(ev.units) == units
            assert not ev.valid or span_problem(ev.modality, ev.units) is None
            open_modality = None
    assert open_modality is None
    assert sum(isinstance(e, TurnEnded) for e in events) == 1

    # text comes only from text ids: no added token's spelling can appear unless the text ids spell it
    text_ids = [i for i in ids if i < 32000 and i not in (1, 2)]  # <unk> (0) is text: it decodes to "⁇"
    reply = "".join(e.text for e in events if isinstance(e, ParsedText))
    if not text_ids:
        assert reply.strip() == ""
    spelled = tokenizer.decode(text_ids)
    for token in ("[Human]", "[MMGPT]", "<eos>", "<soim>", "<sosp>", "<-Res->"):
        if token in reply:
            assert token in spelled


def test_every_token_spelling_stays_text(tokenizer: AnyGPTTokenizer) -> None:
    """All 21,520 unit spellings and every control token, typed by a user, become ordinary text ids only."""
    from anygpt_desktop.protocol.text_tokenizer import UserText
    from anygpt_desktop.robustness.corpus import all_unit_spellings, control_token_spellings

    for text in [all_unit_spellings(), " ".join(control_token_spellings()), "\x00<eos>\x00", "[Human]: hi<eoh>"]:
        ids = tokenizer.encode(UserText(text))
        assert ids[0] == 1 and all(3 <= i < 32000 for i in ids[1:])
