"""The server: WebSocket sessions on /ws, HTTP endpoints, limits, graceful shutdown."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import urllib.parse

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from model import SamplingSettings

from . import protocol as P
from . import realtime_endpoint, realtime_events
from .engine import Engine
from .http import response, static_file
from .metrics import Metrics
from .realtime_session import RealtimeSession
from .recorder import Recorder
from .session import Session


class AntiphonServer:
    def __init__(self, codec, model, max_sessions: int = 8, token: str | None = None,
                 allowed_origins: list[str] | None = None, record_dir: str | None = None,
                 idle_timeout: float = 60.0, max_buffer_seconds: float = 2.0, grace_seconds: float = 5.0,
                 random_weights: bool = False, serial: bool = False):
        self.codec, self.model = codec, model
        self.metrics = Metrics(codec.frame_size / codec.sample_rate)
        if serial:
            from .serial_engine import SerialEngine

            self.engine = SerialEngine(codec, model, max_sessions, self.metrics)
        else:
            self.engine = Engine(codec, model, max_sessions, self.metrics)
        self.token, self.allowed_origins = token, allowed_origins or []
        self.record_dir, self.idle_timeout, self.grace_seconds = record_dir, idle_timeout, grace_seconds
        self.max_buffer_frames = max(1, int(max_buffer_seconds * codec.frame_rate))
        self.random_weights = random_weights
        self.sessions: dict[str, tuple[Session, ServerConnection]] = {}
        self.draining = False
        self.engine.on_failure = self._engine_failed
        self._server = None
        self.port = None

    # ---- HTTP ----
    def _process_request(self, connection, request):
        path = urllib.parse.urlsplit(request.path).path
        if path in (P.WS_PATH, realtime_events.PATH):
            return None  # WebSocket handshake; admission is decided after it, with a close code
        if path == "/healthz":
            return response(200, b"ok\n")
        if path == "/readyz":
            free = self.engine.free_slots()
            ok = not self.draining and not self.engine.failure and free > 0
            body = json.dumps({"ready": ok, "free_slots": free, "draining": self.draining,
                               "engine_failure": self.engine.failure}).encode()
            return response(200 if ok else 503, body, "application/json")
        if path == "/metrics":
            self.metrics.sessions.set(len(self.sessions))
            return response(200, self.metrics.render(), "text/plain; version=0.0.4")
        return static_file(path)

    def _refusal(self, ws: ServerConnection) -> tuple[int, str] | None:
        req = ws.request
        if self.engine.failure:
            return P.CLOSE_INTERNAL_ERROR, self._failure_reason()
        if self.draining:
            return P.CLOSE_TRY_LATER, "server is shutting down"
        if self.allowed_origins:
            origin = req.headers.get("Origin")
            if origin is not None and origin not in self.allowed_origins:
                return P.CLOSE_POLICY, f"origin {origin} is not allowed"
        if self.token:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
            given = query.get("token", [None])[0]
            auth = req.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                given = auth[7:]
            if given != self.token:
                return P.CLOSE_POLICY, "missing or wrong token"
        return None

    # ---- a session ----
    async def _handler(self, ws: ServerConnection):
        refusal = self._refusal(ws)
        if refusal:
            reason = {P.CLOSE_POLICY: "policy", P.CLOSE_INTERNAL_ERROR: "engine_failed"}.get(refusal[0], "draining")
            self.metrics.rejected.labels(reason).inc()
            await ws.close(*refusal)
            return
        realtime = urllib.parse.urlsplit(ws.request.path).path == realtime_events.PATH
        if realtime:
            buffer = int(realtime_endpoint.MAX_BUFFER_SECONDS * self.codec.frame_rate)
            session = RealtimeSession(self.codec.frame_size, self.codec.sample_rate, buffer,
                                      asyncio.get_running_loop(), model_name=self.model.name,
                                      beta=realtime_endpoint.is_beta(ws))
        else:
            session = Session(self.codec.frame_size, self.codec.sample_rate, self.max_buffer_frames,
                              asyncio.get_running_loop())
        if not self.engine.join(session):
            self.metrics.rejected.labels("full").inc()
            await ws.close(P.CLOSE_TRY_LATER, f"server full ({self.engine.max_sessions} sessions); try again later")
            return
        self.sessions[session.id] = (session, ws)
        self.metrics.sessions.set(len(self.sessions))
        if self.record_dir:
            session.recorder = Recorder(self.record_dir, session.id, self.codec.sample_rate)
        try:
            if realtime:
                await realtime_endpoint.run(self, session, ws)
                return
            await ws.send(json.dumps(self._hello(session)))
            sender = asyncio.create_task(self._send_loop(session, ws))
            try:
                await self._receive_loop(session, ws)
            finally:
                sender.cancel()
        except ConnectionClosed:
            pass
        finally:
            self.engine.leave(session)
            self.sessions.pop(session.id, None)
            self.metrics.sessions.set(len(self.sessions))
            if session.recorder:
                session.recorder.close()

    def _failure_reason(self) -> str:
        return f"the engine failed ({self.engine.failure[:60]}); restart the server"  # within a close's 123 bytes

    def _engine_failed(self, failure: str) -> None:
        """From the engine thread: every open session is closed with 1011 and the reason."""
        async def close_all():
            for _, ws in list(self.sessions.values()):
                await ws.close(P.CLOSE_INTERNAL_ERROR, self._failure_reason())
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(close_all()))

    def _hello(self, session: Session) -> dict:
        return {"type": "hello", "protocol": P.PROTOCOL_VERSION, "session_id": session.id,
                "sample_rate": self.codec.sample_rate, "frame_size": self.codec.frame_size,
                "frame_ms": 1000 * self.codec.frame_size / self.codec.sample_rate,
                "codec": self.codec.name, "model": self.model.name, "random_weights": self.random_weights}

    async def receive(self, ws: ServerConnection):
        """The next message, or None after closing a connection idle for `idle_timeout` (both endpoints)."""
        try:
            return await asyncio.wait_for(ws.recv(), self.idle_timeout)
        except asyncio.TimeoutError:
            await ws.close(P.CLOSE_NORMAL, f"idle for {self.idle_timeout:g} s")
            return None

    async def _receive_loop(self, session: Session, ws: ServerConnection):
        while (message := await self.receive(ws)) is not None:
            try:
                if isinstance(message, bytes):
                    P.check_audio_message(message, P.MAX_MESSAGE_BYTES)
                    self.metrics.bytes_in.inc(len(message))
                    if session.push_pcm16(message):
                        raise P.ProtocolError(P.E_INPUT_OVERFLOW, "audio arrives faster than real time; "
                                              f"more than {self.max_buffer_frames} frames buffered, excess dropped")
                else:
                    self._on_event(session, P.parse_client_event(message))
            except P.ProtocolError as e:
                await ws.send(P.error_event(e.code, str(e)))

    def _on_event(self, session: Session, event: dict):
        if event["type"] == "ping":
            session.outbox.put_nowait(json.dumps({"type": "pong", "id": event["id"], "time": time.time()}))
            return
        if session.started_audio and ("sample_rate" in event or "sampling" in event):
            raise P.ProtocolError(P.E_CONFIG_LOCKED, "sample_rate and sampling can only be set before the first audio")
        if "sampling" in event:
            base = dataclasses.asdict(session.sampling or self.model.default_sampling)
            try:
                session.sampling = SamplingSettings(**{**base, **event["sampling"]}).validate()
            except ValueError as e:
                raise P.ProtocolError(P.E_BAD_EVENT, str(e)) from None
            session.sampling_dirty = True
        if "sample_rate" in event:
            session.set_client_rate(event["sample_rate"])
        if "frame_marks" in event:
            session.frame_marks = event["frame_marks"]
        session.outbox.put_nowait(json.dumps({"type": "config_ok", "sample_rate": session.client_rate}))

    async def _send_loop(self, session: Session, ws: ServerConnection):
        last_stats = time.monotonic()
        while True:
            try:
                item = await asyncio.wait_for(session.outbox.get(), 1.0)
            except asyncio.TimeoutError:
                item = None
            if item is not None:
                if isinstance(item, bytes):
                    self.metrics.bytes_out.inc(len(item))
                await ws.send(item)
            if time.monotonic() - last_stats >= 1.0:
                last_stats = time.monotonic()
                await ws.send(json.dumps(session.stats()))

    # ---- lifecycle ----
    async def start(self, host: str = "127.0.0.1", port: int = 8765):
        self._loop = asyncio.get_running_loop()
        self.engine.start()
        self._server = await serve(self._handler, host, port, process_request=self._process_request,
                                   max_size=P.MAX_MESSAGE_BYTES, ping_interval=20, ping_timeout=20,
                                   close_timeout=2)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def shutdown(self):
        """Stop accepting (readiness 503), give sessions a grace period, then close them with 1001."""
        self.draining = True
        deadline = time.monotonic() + self.grace_seconds
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for session, ws in list(self.sessions.values()):
            await ws.close(P.CLOSE_GOING_AWAY, "server shutting down")
        self._server.close()
        await self._server.wait_closed()
        self.engine.stop()
