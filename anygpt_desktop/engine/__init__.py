"""Model loading, decoding, chat sessions, base-model tasks and the model store (no Qt)."""
