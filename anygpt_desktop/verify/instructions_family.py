"""``instructions``: instruction lists, task prompts, role strings, system prompts and templates versus the kit.

The instruction lists are checked through the project's own chooser (``choose_instruction`` at every index) against
the reference's recorded summary (count, distinct count, sha256 of the list, first entry), never by comparing the
package's JSON files with the kit's copies of them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator

from anygpt_desktop.protocol import prompts, vocab
from anygpt_desktop.protocol.instructions import (
    choose_instruction,
    other2text_instructions,
    task_prompts,
    text2other_instructions,
)
from anygpt_desktop.verify import CaseResult, Kit

FAMILY = "instructions"


def _sha256(items: list[str]) -> str:
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()


def _ours() -> dict[str, Any]:
    t = prompts.MMGPT_TEMPLATE
    a = prompts.ANYGPT_TEMPLATE
    return {
        "prompter": {
            "chatbot_name": vocab.MMGPT,
            "user_name": vocab.HUMAN,
            "user_end": vocab.END_OF_HUMAN,
            "chatbot_end": vocab.END_OF_MMGPT,
            "speech_response_sep": prompts.SPEECH_RESPONSE_SEP,
            "text_ins_sep": vocab.INSTRUCTION_SEP,
            "response_sep": vocab.RESPONSE_SEP,
            "system_prompt": prompts.SYSTEM_MMGPT,
        },
        "MMGPT": {"system_message": t.system, "roles": list(t.roles), "sep": t.sep, "sep2": t.sep2},
        "AnyGPT": {"system_message": a.system, "roles": list(a.roles), "sep": a.sep, "sep2": a.sep2},
    }


def run(kit: Kit) -> Iterator[CaseResult]:
    folder = (kit.golden / FAMILY).relative_to(kit.root)
    known = {"other2text": other2text_instructions(), "text2other": text2other_instructions()}
    summary = kit.json(folder / "prompts_and_roles.json")["list_summary"]
    for direction, lists in known.items():
        for modality in sorted(set(summary[direction]) | set(lists)):
            s = summary[direction].get(modality)
            if s is None or modality not in lists:
                missing = "the reference" if s is None else "this project"
                yield CaseResult(FAMILY, f"{direction}:{modality}", False, detail=f"no such list in {missing}")
                continue
            chosen = [choose_instruction(direction, modality, index=i) for i in range(len(lists[modality]))]
            ok = (
                len(chosen) == s["n"]
                and len(set(chosen)) == s["unique"]
                and _sha256(chosen) == s["sha256"]
                and chosen[0] == s["first"]
            )
            yield CaseResult(FAMILY, f"{direction}:{modality}", ok, detail=f"n={len(chosen)} sha256 {_sha256(chosen)[:12]}")
    ref_tasks = kit.json(folder / "task_prompts.json")["effective"]
    yield CaseResult(
        FAMILY, "task_prompts", task_prompts() == ref_tasks, detail=f"{len(task_prompts())} keys (ref {len(ref_tasks)})"
    )
    roles = kit.json(folder / "prompts_and_roles.json")
    ours = _ours()
    for key, value in ours["prompter"].items():
        ref_value = roles["prompter"][key]
        yield CaseResult(FAMILY, f"prompter:{key}", value == ref_value, detail="" if value == ref_value else repr(value))
    special = [vocab.HUMAN, vocab.MMGPT, vocab.END_OF_HUMAN, vocab.END_OF_MMGPT, vocab.RESPONSE_SEP, vocab.INSTRUCTION_SEP]
    yield CaseResult(FAMILY, "prompter:special_tokens", special == roles["prompter"]["special_tokens"])
    for name in ("MMGPT", "AnyGPT"):
        ref_t = roles["conversation_templates"][name]
        problems = [k for k, v in ours[name].items() if ref_t.get(k) != v]
        yield CaseResult(FAMILY, f"template:{name}", not problems, detail=", ".join(problems))
    base = roles["base_cli_templates"]
    text_prompt = "".join(map(str, prompts.base_prompt("text", "{instruction}", "{input}")))
    other_prompt = "".join(map(str, prompts.base_prompt("image", "{instruction}", "{input}")))
    yield CaseResult(FAMILY, "base_template:text_input", text_prompt == base["text_input"], detail=text_prompt)
    yield CaseResult(FAMILY, "base_template:other_input", other_prompt == base["other_input"], detail=other_prompt)
