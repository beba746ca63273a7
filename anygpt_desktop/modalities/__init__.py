"""Speech, image and music encoders/decoders that load the released checkpoints."""
