from __future__ import annotations

from importlib import resources

import pytest

from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer
from anygpt_desktop.protocol.vocab import Vocabulary


@pytest.fixture(scope="session")
def tokenizer() -> AnyGPTTokenizer:
    """The chat tokenizer from the LLaMA-2 model shipped in the package and the AnyGPT layout."""
    model = resources.files("anygpt_desktop.tiny_kit").joinpath("data", "llama2_tokenizer.model")
    return AnyGPTTokenizer(str(model), Vocabulary.chat_layout())
