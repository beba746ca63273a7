"""The AnyGPT token protocol: vocabulary and id layout, unit strings, prompts, tokenisation and stream parsing.

Pure Python (plus the ``sentencepiece`` extension): no torch, no Qt. This layer decides whether the released model
sees exactly the tokens it was trained on.
"""
