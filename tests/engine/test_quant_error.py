"""The quantization-error benchmark's measurement, on a narrow model (the benchmark runs it at full width)."""

from __future__ import annotations

from anygpt_desktop.bench.quant_error import measure
from anygpt_desktop.engine.llm_manifest import ANYGPT_CHAT_CONFIG

NARROW = {**ANYGPT_CHAT_CONFIG, "hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 4,
          "num_key_value_heads": 4}


def test_int8_is_closer_to_bf16_than_int4() -> None:
    int8, int4 = measure(layers=2, config=NARROW)
    assert (int8.precision, int4.precision) == ("int8", "int4")
    assert len(int8.layer_rel_error) == len(int4.layer_rel_error) == 2
    assert all(0 < a < b for a, b in zip(int8.layer_rel_error, int4.layer_rel_error))
    assert 0 <= int8.kl_mean < int4.kl_mean
    assert int8.kl_mean <= int8.kl_max and int8.top1_agreement >= int4.top1_agreement
