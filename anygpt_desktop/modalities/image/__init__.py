"""modalities/image."""
