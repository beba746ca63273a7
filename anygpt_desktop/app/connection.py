"""The state of the connection to an engine server, derived from the chat session's events (no Qt here).

Loading the models is connecting (the client connects and asks the server for its ready models), ready is connected,
a failed load or a turn whose engine was lost (``TurnEnded.engine_lost``) is disconnected, and a turn that finishes
after that means the next turn reconnected. The status bar shows it only when the engine is a server.
"""

from __future__ import annotations

from anygpt_desktop.session import events as ev
from anygpt_desktop.session.kinds import ModelState

CONNECTING, CONNECTED, DISCONNECTED = "connecting", "connected", "disconnected"
STATE_WORDS = {CONNECTING: "connecting…", CONNECTED: "connected", DISCONNECTED: "disconnected"}


def next_connection_state(state: str, event: ev.SessionEvent) -> str:
    """The connection state after ``event`` (``state`` before it; "" when nothing is known yet)."""
    if isinstance(event, ev.ModelStateChanged):
        return {ModelState.LOADING: CONNECTING, ModelState.READY: CONNECTED}.get(event.state, DISCONNECTED)
    if isinstance(event, ev.TurnEnded):
        if event.engine_lost:
            return DISCONNECTED
        if not event.failed:
            return CONNECTED  # a reply came from the server: a lost connection was made again
    return state


def connection_text(address: str, state: str) -> tuple[str, str]:
    """(the status bar's text, its accessible name) for the server at ``address``; empty for the local engine."""
    if not address:
        return "", ""
    words = STATE_WORDS.get(state, "")
    text = f"Server: {address}" + (f" — {words}" if words else "")
    return text, f"Engine server {address}" + (f": {words}" if words else "")


def connection_tip(state: str) -> str:
    """The status bar label's tooltip: what the state means and what to do."""
    if state == DISCONNECTED:
        return ("The connection to the engine server is lost or was refused. The next message reconnects; "
                "Models → Reload models (Ctrl+R) connects now. The server is chosen in Settings › Engine.")
    return "The models run on this engine server (Settings › Engine)."
