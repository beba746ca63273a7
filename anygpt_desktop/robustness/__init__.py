"""Proof that bad input gets a clear error: a generated malformed-input corpus fed through every entry point.

``corpus`` writes the cases; ``report`` runs them through the readers, loaders, the engine turn and the CLIs and
classifies each outcome (see ``scripts/robustness_report.py``).
"""
