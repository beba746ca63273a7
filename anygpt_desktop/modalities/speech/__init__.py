"""modalities/speech."""
