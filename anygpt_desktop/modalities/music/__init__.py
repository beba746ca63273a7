"""modalities/music."""
