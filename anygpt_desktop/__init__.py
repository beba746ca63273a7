"""AnyGPT Desktop: a local voice assistant around the released AnyGPT chat model."""

__version__ = "0.1.0"
