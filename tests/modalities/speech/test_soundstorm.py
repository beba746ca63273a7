from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from anygpt_desktop.modalities.speech.errors import SpeechInputError
from anygpt_desktop.modalities.speech.soundstorm import cosine_mask_counts, load_soundstorm


@pytest.fixture(scope="module")
def golden_soundstorm(reference_dir: Path):
    return load_soundstorm(reference_dir / "golden" / "soundstorm" / "soundstorm.pt", heads=2)


def test_forward_logits(reference_dir: Path, golden_soundstorm) -> None:
    folder = reference_dir / "golden" / "soundstorm"
    masked = torch.from_numpy(np.load(folder / "forward_masked_input.npy"))
    with torch.inference_mode():
        logits = golden_soundstorm.logits(masked.reshape(1, -1), torch.from_numpy(np.load(folder / "forward_cond_ids.npy")))
    np.testing.assert_allclose(logits.numpy(), np.load(folder / "forward_logits.npy"), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name,seed", [("no_prompt", 7), ("prompt", 8)])
def test_generate_matches_reference_exactly(reference_dir: Path, golden_soundstorm, name: str, seed: int) -> None:
    folder = reference_dir / "golden" / "soundstorm"
    semantic = torch.from_numpy(np.load(folder / "semantic_tokens.npy"))
    prompt = torch.from_numpy(np.load(folder / "prompt_tokens.npy")) if name == "prompt" else None
    calls: list[np.ndarray] = []
    hook = golden_soundstorm.net.register_forward_pre_hook(lambda _m, args: calls.append(args[0].numpy().copy()))
    try:
        torch.manual_seed(seed)
        out = golden_soundstorm.generate(semantic, prompt, steps=3, greedy=True)
    finally:
        hook.remove()
    np.testing.assert_array_equal(out.numpy(), np.load(folder / f"generate_{name}_output.npy"))
    trace = np.load(folder / f"generate_{name}_trace.npz")
    assert len(calls) == 10
    for i, got in enumerate(calls):
        np.testing.assert_array_equal(got, trace[f"net_input_{i:02d}"])
    # the generator advanced by exactly the reference's three uniform draws
    torch.manual_seed(seed)
    for i in range(3):
        u = torch.zeros(trace["uniform_0"].shape).uniform_(0, 1)
        np.testing.assert_array_equal(u.numpy(), trace[f"uniform_{i}"])


def test_schedule_and_input_checks(tiny_speech) -> None:
    assert cosine_mask_counts(3, torch.tensor([26]))[:, 0].tolist() == [26, 22, 13, 0]
    _, soundstorm = tiny_speech
    with pytest.raises(SpeechInputError, match="0..1023"):
        soundstorm.generate(torch.tensor([[5, 1024]]), steps=1)
    with pytest.raises(SpeechInputError, match="non-empty"):
        soundstorm.generate(torch.zeros(1, 0, dtype=torch.long), steps=1)
    with pytest.raises(SpeechInputError, match="voice prompt"):
        soundstorm.generate(torch.tensor([[5, 6]]), torch.zeros(1, 3, 7, dtype=torch.long), steps=1)
