"""``tokenizer``: tokenisation, prompts, decoding and the reference's reply extraction, case by case.

The chat and base CLI scenarios are replayed through this package's protocol layer: the line grammar, prompt
rendering, tokeniser, decoding config choice, batch-decode text and the reference's extraction rules. The history is
kept the reference's way here (a failed turn leaves its user message, reference-behaviour §11.5) so every case can be compared; the
product drops that message (see ``Conversation`` docs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from anygpt_desktop.protocol.cli_grammar import parse_base_line, parse_chat_line
from anygpt_desktop.protocol.decoding import base_config_name, chat_config_name, effective_config
from anygpt_desktop.protocol.instructions import choose_instruction
from anygpt_desktop.protocol.prompts import Conversation, base_prompt, interleaved_user_message, render_text
from anygpt_desktop.protocol.reference_compat import (
    ReplyExtractionError,
    base_modality_content,
    base_text_result,
    chat_detected_modality,
    chat_postprocess_spans,
    chat_reply,
)
from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer, UserText
from anygpt_desktop.protocol.units import music_codes_to_units, music_units_to_codes, units_to_string
from anygpt_desktop.protocol.vocab import Vocabulary
from anygpt_desktop.verify import CaseResult, Kit

FAMILY = "tokenizer"


def _first_difference(a: Any, b: Any) -> str:
    if isinstance(a, (list, str)) and isinstance(b, (list, str)):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return f"at {i}: {x!r} != {y!r}"
        return f"lengths {len(a)} != {len(b)}"
    return f"{a!r} != {b!r}"


class _Checks:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def eq(self, what: str, ours: Any, ref: Any) -> None:
        if ours != ref:
            self.problems.append(f"{what} differs ({_first_difference(ours, ref)})")


def _unit_string(units_by_file: dict[str, dict[str, Any]], modality: str, name: str) -> str:
    units = units_by_file[modality][Path(name).name]
    if modality == "music":
        units = music_codes_to_units(units)
    return units_to_string(modality, units)


def _postprocess_calls(reply: str, voice_prompt: str | None) -> list[dict[str, Any]]:
    calls = []
    for span in chat_postprocess_spans(reply):
        call: dict[str, Any] = {"modality": span.modality, "content": span.content, "units": span.units}
        if span.modality == "speech":
            call["voice_prompt"] = voice_prompt
        if span.modality == "music":
            codes = music_units_to_codes(span.units, strict=False)
            call["rvq_codes_shape"] = [1, 1, 4, len(codes[0])]
            call["rvq_codes"] = codes
        calls.append(call)
    return calls


def _check_generation(tok: AnyGPTTokenizer, turn: dict[str, Any], checks: _Checks, config: str) -> str:
    checks.eq("generation config", effective_config(config), turn["generation_config_effective"])
    decoded = tok.decode(turn["full_sequence"])
    checks.eq("batch_decode", decoded, turn["batch_decode"])
    return decoded


def _chat_case(tok: AnyGPTTokenizer, case: dict[str, Any], units: dict[str, Any]) -> list[str]:
    checks = _Checks()
    conv = Conversation()
    for n, turn in enumerate(case["turns"]):
        where = f"turn {n + 1}"
        line = parse_chat_line(turn["line"])
        if line.clear:
            conv.clear()
        else:
            user = interleaved_user_message(
                UserText(line.text),
                images=[_unit_string(units, "image", p) for p in line.images],
                music=[_unit_string(units, "music", p) for p in line.music],
                speech=[_unit_string(units, "speech", p) for p in line.speech],
            )
            conv.append_user(user)  # the reference appends before generating (kept on failure here)
            segments = conv.render()
            checks.eq(f"{where} prompt", render_text(segments), turn["prompt"])
            checks.eq(f"{where} input_ids", tok.encode(segments), turn["input_ids"])
            decoded = _check_generation(tok, turn, checks, chat_config_name(line.output_modality))
            calls: list[dict[str, Any]] = []
            extraction_failed = False
            try:
                reply = chat_reply(decoded)
            except ReplyExtractionError:
                extraction_failed = True
            else:
                if chat_detected_modality(decoded) != "text":
                    calls = _postprocess_calls(reply, line.voice_prompt)
                conv.append_assistant(reply)
            checks.eq(f"{where} reply extraction failed", extraction_failed, turn["exception"] is not None)
            checks.eq(f"{where} postprocess calls", calls, turn["postprocess_calls"])
        history = [[m.role, m.text] for m in conv.messages]
        checks.eq(f"{where} history", history, turn["history_after"])
    return checks.problems


def _base_case(tok: AnyGPTTokenizer, case: dict[str, Any], units: dict[str, Any]) -> list[str]:
    checks = _Checks()
    line = parse_base_line(case["line"])
    if line.modality == "text":
        instruction = choose_instruction("text2other", line.to_modality, index=0)
        segments = base_prompt("text", instruction, UserText(line.data))
    else:
        instruction = choose_instruction("other2text", line.modality, index=0)
        segments = base_prompt(line.modality, instruction, _unit_string(units, line.modality, line.data))
    checks.eq("prompt", render_text(segments), case["prompt"])
    checks.eq("input_ids", tok.encode(segments), case["input_ids"])
    decoded = _check_generation(tok, case, checks, base_config_name(line.to_modality))
    if line.to_modality == "text":
        checks.eq("text result", base_text_result(decoded), case["text_result"])
    else:
        span = base_modality_content(decoded, line.to_modality)
        call: dict[str, Any] = {"modality": span.modality, "content": span.content, "units": span.units}
        if span.modality == "speech":
            call["voice_prompt"] = line.voice_prompt
        ref_calls = [{k: v for k, v in c.items() if k in call} for c in case["postprocess_calls"]]
        checks.eq("postprocess calls", [call], ref_calls)
    return checks.problems


def _parse_case(tok: AnyGPTTokenizer, case: dict[str, Any]) -> list[str]:
    checks = _Checks()
    decoded = tok.decode(case["ids"])
    checks.eq("batch_decode", decoded, case["batch_decode"])
    checks.eq("chat modality", chat_detected_modality(decoded), case["chat_detected_modality"])
    try:
        reply: str | None = chat_reply(decoded)
    except ReplyExtractionError:
        reply = None
    checks.eq("chat response", reply, case["chat_response"])
    if reply is not None and case["chat_detected_modality"] != "text":
        ours = [{"modality": s.modality, "content": s.content, "units": s.units} for s in chat_postprocess_spans(reply)]
        ref = [{k: c[k] for k in ("modality", "content", "units")} for c in case.get("chat_postprocess_calls", [])]
        checks.eq("chat postprocess", ours, ref)
    checks.eq("base text", base_text_result(decoded), case["base_text_result"])
    for modality, ref_span in case["base_modality_content"].items():
        span = base_modality_content(decoded, modality)
        checks.eq(f"base {modality} span", [span.content, span.units], [ref_span["content"], ref_span["units"]])
    return checks.problems


def run(kit: Kit) -> Iterator[CaseResult]:
    folder = kit.golden / FAMILY
    vocab = Vocabulary.from_folder(folder)
    recorded = kit.json(folder.relative_to(kit.root) / "config.json")["vocab_size"]
    yield CaseResult(FAMILY, "vocabulary", vocab.size == recorded, detail=f"{vocab.size} ids (reference {recorded})")
    tok = AnyGPTTokenizer(folder / "tokenizer.model", vocab)
    for case in kit.json(folder.relative_to(kit.root) / "tokenize_cases.json")["cases"]:
        checks = _Checks()
        ids = tok.encode(case["text"])
        checks.eq("input_ids", ids, case["input_ids"])
        checks.eq("tokens", tok.pieces(ids), case["tokens"])
        checks.eq("decode", tok.decode(ids), case["batch_decode_skip_special"])
        yield CaseResult(FAMILY, f"tokenize:{case['text'][:40]!r}", not checks.problems, detail="; ".join(checks.problems))
    units = kit.json(folder.relative_to(kit.root) / "golden_units.json")
    for case in kit.json(folder.relative_to(kit.root) / "prompt_cases.json")["cases"]:
        problems = _chat_case(tok, case, units) if case["cli"] == "chat" else _base_case(tok, case, units)
        yield CaseResult(FAMILY, f"prompt:{case['name']}", not problems, detail="; ".join(problems[:3]))
    for case in kit.json(folder.relative_to(kit.root) / "parse_cases.json")["cases"]:
        problems = _parse_case(tok, case)
        yield CaseResult(FAMILY, f"parse:{case['name']}", not problems, detail="; ".join(problems[:3]))
