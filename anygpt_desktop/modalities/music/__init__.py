"""Music (Encodec 32 kHz): ``codec.EncodecMusic`` (load, encode, decode), ``units`` (codes <-> AnyGPT music units and
LLM ids), ``audio_file`` (file -> mono 32 kHz crop), ``manifest`` (released key names), ``errors``."""
