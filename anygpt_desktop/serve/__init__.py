"""Serving the engine to a team: ``anygpt-desktop serve`` (server.py) and the desktop app's client (client.py).

The wire payload is the engine process's protocol (``engine_process/protocol.py``): the same frames, one per WebSocket
binary message. No Qt on either side; the client imports nothing of the models (no torch).
"""
