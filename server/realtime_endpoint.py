"""`/v1/realtime`: the receive and send loops of an OpenAI Realtime session (admission, limits and
the engine slot are the server's, shared with the native endpoint)."""
from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection

from . import realtime_events as R
from .realtime_session import RealtimeSession

MAX_BUFFER_SECONDS = 60.0  # clients often send a whole file at once; the engine plays it in real time


def is_beta(ws: ServerConnection) -> bool:
    return "realtime=v1" in (ws.request.headers.get("OpenAI-Beta") or "")


async def run(server, session: RealtimeSession, ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "session.created", "event_id": R.new_id("event"),
                              "session": session.config.describe(session.id, server.model.name, session.beta)}))
    sender = asyncio.create_task(_send_loop(session, ws))
    try:
        while (message := await server.receive(ws)) is not None:
            try:
                session.on_event(R.parse(message))
            except R.RealtimeError as e:
                session.fail(e, R.client_event_id(message) if isinstance(message, str) else None)
    finally:
        sender.cancel()


async def _send_loop(session: RealtimeSession, ws: ServerConnection) -> None:
    while True:
        await ws.send(await session.outbox.get())
