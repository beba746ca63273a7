"""The incremental parser over generated ids, on every parse case of the kit plus malformed streams."""

import json


from anygpt_desktop.protocol.reference_compat import chat_postprocess_spans, chat_reply, ReplyExtractionError
from anygpt_desktop.protocol.stream_parser import (
    SpanFinished,
    StreamParser,
    ParsedText,
    TurnEnded,
    UnitsDelta,
)


def _parse(tokenizer, ids):
    parser = StreamParser(tokenizer)
    events = parser.feed_many(ids) + parser.finish()
    return parser, events


def _generated(ids):
    """The ids after the prompt's final "[MMGPT]", "▁:" (what the decode loop would stream)."""
    return ids[ids.index(32001) + 2 :]


def _parse_cases(reference_dir):
    path = reference_dir / "golden/tokenizer/parse_cases.json"
    return {c["name"]: c for c in json.loads(path.read_text(encoding="utf-8"))["cases"]}


def test_every_parse_case_agrees_with_the_reference_or_differs_on_purpose(tokenizer, reference_dir):
    cases = _parse_cases(reference_dir)
    # where we deliberately differ from the reference's text extraction, and why:
    deliberate = {
        # the reference takes the LAST complete [MMGPT]…<eos>; streaming, we end the turn at the first end tag
        "p_extra_turns": "first answer",
        # the reference ignores </s> (skip_special_tokens); we treat it as the end of the turn
        "p_special_ids_inside": "a",
    }
    for name, case in cases.items():
        parser, _ = _parse(tokenizer, _generated(case["ids"]))
        try:
            reference_text = chat_reply(case["batch_decode"])
        except ReplyExtractionError:
            reference_text = None
        reference_spans = chat_postprocess_spans(reference_text) if reference_text else []
        if name in deliberate:
            assert parser.text() == deliberate[name], name
            continue
        if case["chat_exception"]:
            # the reference aborted the turn; we keep what arrived and say the end tag was missing
            assert parser.ended == "stream_end" and any(d.code == "no_end_of_turn" for d in parser.diagnostics)
        # text: the reference keeps "<eot>", unit tokens and the ": " prefix in its text; ours is the clean text
        if case["chat_detected_modality"] == "text" and reference_text:
            assert parser.text() == reference_text.lstrip(": ").strip(), name
        # spans: ours only counts real unit tokens; the reference also counted digits of text (p_digits_inside_span)
        if name == "p_digits_inside_span":
            assert [s.units for s in parser.spans] == [(5, 6)]
            assert [s.units for s in reference_spans] == [[12, 5, 6]]
            assert any(d.code == "foreign_token_in_span" for d in parser.diagnostics)
        elif name == "p_two_image_spans":
            # the reference decoded only the last image; we deliver both
            assert [list(s.units) for s in parser.spans][-1] == reference_spans[0].units
            assert len(parser.spans) == 2
        elif name in ("p_image_missing_eoim",):
            # reference: no end tag → no image; ours: the span is reported incomplete and invalid (20 units)
            assert reference_spans == [] and not parser.spans[0].valid and not parser.spans[0].complete
        elif name == "p_music_partial_frame":
            # reference silently dropped 2 units; we refuse the span as not whole frames
            assert reference_spans[0].units == list(parser.spans[0].units)
            assert not parser.spans[0].valid
            assert any("not whole frames" in d.message for d in parser.diagnostics)
        elif reference_spans:
            assert [(s.modality, list(s.units)) for s in parser.spans] == [(s.modality, s.units) for s in reference_spans]


def test_transcript_and_reply_channels(tokenizer):
    ids = tokenizer.encode("<-Ins-> hello, how are you\n <-Res-> I am fine<eot>\n<sosp><🗣️1><🗣️2><eosp><eom>", add_bos=False)
    parser, events = _parse(tokenizer, ids)
    assert parser.text("transcript") == "hello, how are you"
    assert parser.text("reply") == "I am fine"
    assert [e for e in events if isinstance(e, UnitsDelta)] == [UnitsDelta("speech", (1,)), UnitsDelta("speech", (2,))]
    assert isinstance(events[-1], TurnEnded) and events[-1].reason == "eom"
    assert "<eot>" not in "".join(e.text for e in events if isinstance(e, ParsedText))


def test_speech_units_stream_before_the_span_closes(tokenizer):
    parser = StreamParser(tokenizer)
    assert parser.feed(41222)[0].modality == "speech"
    assert parser.feed(40198 + 7) == [UnitsDelta("speech", (7,))]


def test_multibyte_text_is_emitted_whole(tokenizer):
    ids = tokenizer.encode("Voilà 🎶 done<eos>", add_bos=False)
    parser, events = _parse(tokenizer, ids)
    deltas = [e.text for e in events if isinstance(e, ParsedText)]
    assert "".join(deltas) == "Voilà 🎶 done"
    assert all("\ufffd" not in d for d in deltas)


def test_31_image_units_is_invalid(tokenizer):
    ids = [40196] + [32004 + k for k in range(31)] + [40197, 32003]
    parser, _ = _parse(tokenizer, ids)
    assert parser.spans[0].complete and not parser.spans[0].valid
    assert any("31 units" in d.message for d in parser.diagnostics)


def test_music_out_of_phase(tokenizer):
    ids = [49416] + [41224 + v for v in (2048, 0, 4096, 6144)] + [49417, 32003]
    parser, _ = _parse(tokenizer, ids)
    assert not parser.spans[0].valid
    assert any("out of phase" in d.message for d in parser.diagnostics)


def test_span_cut_by_end_of_turn_and_stray_tokens(tokenizer):
    ids = [41222, 40198, 40199, 32003]
    parser, events = _parse(tokenizer, ids)
    span = [e for e in events if isinstance(e, SpanFinished)][0]
    assert span.units == (0, 1) and not span.complete
    assert parser.ended == "eos"
    parser2, _ = _parse(tokenizer, [40198, 41223, 32003])  # unit outside a span, end tag without start
    assert {d.code for d in parser2.diagnostics} >= {"stray_token", "stray_end_tag"}


def test_model_starting_a_new_turn_ends_the_reply(tokenizer):
    ids = tokenizer.encode("Sure.[Human]: more", add_bos=False)
    parser, _ = _parse(tokenizer, ids)
    assert parser.ended == "new_turn" and parser.text() == "Sure."


def test_token_limit_without_end(tokenizer):
    parser, events = _parse(tokenizer, tokenizer.encode("Once upon a time", add_bos=False))
    assert parser.text() == "Once upon a time"
    assert events[-1] == TurnEnded("stream_end")
    assert parser.feed(32003)[0].code == "after_end"


def test_eot_split_over_pieces(tokenizer):
    ids = tokenizer.encode("Sure.<eot>\nOk", add_bos=False)
    assert len(tokenizer.pieces(ids)) > 5  # "<eot>" arrives as several pieces: "<", "e", "ot", ">"
    parser = StreamParser(tokenizer)
    deltas = []
    for i in ids:
        deltas += [e.text for e in parser.feed(i) if isinstance(e, ParsedText)]
    parser.feed(32003)
    assert "".join(deltas) == "Sure.\nOk"
    assert parser.text() == "Sure.\nOk"
