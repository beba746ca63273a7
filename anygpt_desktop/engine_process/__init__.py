"""The engine in its own process: the GUI and the audio never share an interpreter (or a crash) with the models.

``RemoteAssistant`` (remote.py) is the assistant the GUI's worker uses; it owns an ``EngineProcess`` (a child started
with ``spawn``) that runs the real ``Assistant`` (child.py). They talk through the typed, versioned messages of
protocol.py over a replaceable transport (transport.py). No Qt on either side.
"""

from anygpt_desktop.engine_process.protocol import PROTOCOL_VERSION, ProtocolError
from anygpt_desktop.engine_process.remote import EngineDied, EngineError, EngineOptions, EngineProcess, RemoteAssistant

__all__ = ["PROTOCOL_VERSION", "EngineDied", "EngineError", "EngineOptions", "EngineProcess", "ProtocolError",
           "RemoteAssistant"]
