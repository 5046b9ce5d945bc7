"""The server: WebSocket sessions on /ws, HTTP endpoints, limits, graceful shutdown."""
from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import time
import urllib.parse

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from antiphon.model import SamplingSettings

from . import protocol as P
from . import realtime_endpoint, realtime_events
from .engine import Engine
from .http import response, static_file
from .metrics import Metrics
from .realtime_session import RealtimeSession
from .outbox import MAX_PENDING_BYTES
from .recorder import Recorder
from .session import Session


CLOSE_WAIT_S = 5.0  # how long a session closed by the server may take to get its close frame out


class AntiphonServer:
    def __init__(self, codec, model, max_sessions: int = 8, token: str | None = None,
                 allowed_origins: list[str] | None = None, record_dir: str | None = None,
                 idle_timeout: float = 60.0, max_buffer_seconds: float = 2.0, grace_seconds: float = 5.0,
                 random_weights: bool = False, serial: bool = False, max_pending_bytes: int = MAX_PENDING_BYTES,
                 context: int | None = None):
        self.codec, self.model = codec, model
        self.metrics = Metrics(codec.frame_size / codec.sample_rate)
        self.engine = Engine(codec, model, max_sessions, self.metrics, stepping="serial" if serial else "batched",
                             context=context)
        self.token, self.allowed_origins = token, allowed_origins or []
        self.record_dir, self.idle_timeout, self.grace_seconds = record_dir, idle_timeout, grace_seconds
        self.max_buffer_frames = max(1, int(max_buffer_seconds * codec.frame_rate))
        self.random_weights = random_weights
        self.max_pending_bytes = max_pending_bytes  # per session: what waits to be sent to its client
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
        if path == "/healthz":  # the process is alive and its engine serves (or could, with a slot free)
            if self.engine.failure:
                return response(503, f"engine failed: {self.engine.failure}\n".encode())
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
                return P.CLOSE_POLICY, P.close_reason(f"origin {origin} is not allowed")
        if self.token:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
            given = query.get("token", [None])[0]
            scheme, _, credentials = req.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer":  # RFC 7235: the scheme is case-insensitive
                given = credentials.strip()
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
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
        buffer = int(realtime_endpoint.MAX_BUFFER_SECONDS * self.codec.frame_rate) if realtime \
            else self.max_buffer_frames
        session = Session(self.codec.frame_size, self.codec.sample_rate, buffer, asyncio.get_running_loop(),
                          text_decoder=self.model.tokenizer.text_decoder())
        adapter = RealtimeSession(session, model_name=self.model.name, beta=realtime_endpoint.is_beta(ws),
                                  num_codebooks=self.codec.num_codebooks,
                                  transcribes=self.model.word_head is not None) if realtime else None
        if not self.engine.join(session):
            self.metrics.rejected.labels("full").inc()
            await ws.close(P.CLOSE_TRY_LATER, f"server full ({self.engine.max_sessions} sessions); try again later")
            return
        self.sessions[session.id] = (session, ws)
        self.metrics.sessions.set(len(self.sessions))
        self._wire(session, ws)
        if self.record_dir:
            session.recorder = Recorder(self.record_dir, session.id, self.codec.sample_rate)
        try:
            if realtime:
                await realtime_endpoint.run(self, adapter, ws)
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
            session.finish()

    def _wire(self, session: Session, ws: ServerConnection) -> None:
        """The session's ways out: closing its connection, and the bound on what waits for it."""
        async def close(code: int, reason: str) -> None:
            try:  # the close frame waits behind what is unsent; a client that never reads never takes it
                await asyncio.wait_for(ws.close(code, P.close_reason(reason)), CLOSE_WAIT_S)
            except asyncio.TimeoutError:
                ws.transport.abort()

        def not_reading(reason: str) -> None:
            self.metrics.rejected.labels("not_reading").inc()
            session.close(P.CLOSE_POLICY, reason)
        session.closer = lambda code, reason: asyncio.ensure_future(close(code, reason))
        session.outbox.max_bytes = self.max_pending_bytes
        session.outbox.transport_bytes = lambda: ws.transport.get_write_buffer_size() if ws.transport else 0
        session.outbox.on_overflow = not_reading

    def _failure_reason(self) -> str:
        return P.close_reason(f"the engine failed ({self.engine.failure}); restart the server")

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
                "codec": self.codec.name, "model": self.model.name, "random_weights": self.random_weights,
                "user_text": self.model.word_head is not None}

    async def receive(self, ws: ServerConnection):
        """The next message, or None after closing a connection idle for `idle_timeout` (both endpoints)."""
        try:  # asyncio.timeout, not wait_for: no task made per message (50 a second per session)
            async with asyncio.timeout(self.idle_timeout):
                return await ws.recv()
        except TimeoutError:
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
                session.outbox.put(P.error_event(e.code, str(e)))  # never wait on the client here

    def _on_event(self, session: Session, event: dict):
        if event["type"] == "ping":
            session.outbox.put(json.dumps({"type": "pong", "id": event["id"], "time": time.time()}))
            return
        if session.started_audio and ("sample_rate" in event or "sampling" in event):
            raise P.ProtocolError(P.E_CONFIG_LOCKED, "sample_rate and sampling can only be set before the first audio")
        if "sampling" in event:
            base = dataclasses.asdict(session.sampling or self.model.default_sampling)
            try:
                session.sampling = SamplingSettings(**{**base, **event["sampling"]}).validate(self.model.vocab_sizes())
            except ValueError as e:
                raise P.ProtocolError(P.E_BAD_EVENT, str(e)) from None
            self.engine.configure(session, session.sampling)
        if "sample_rate" in event:
            session.set_client_rate(event["sample_rate"])
        if "frame_marks" in event:
            session.frame_marks = event["frame_marks"]
        if "keep_input" in event:
            session.skip_quiet = not event["keep_input"]
        session.outbox.put(json.dumps({"type": "config_ok", "sample_rate": session.client_rate}))

    async def _send_loop(self, session: Session, ws: ServerConnection):
        last_stats = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(1.0):
                    item = await session.outbox.get()
            except TimeoutError:
                item = None
            if item is not None:
                if isinstance(item, bytes):
                    self.metrics.bytes_out.inc(len(item))
                await ws.send(item)
            if time.monotonic() - last_stats >= 1.0:
                last_stats = time.monotonic()
                session.outbox.put(json.dumps(session.stats()))

    # ---- lifecycle ----
    async def start(self, host: str = "127.0.0.1", port: int = 8765):
        self._loop = asyncio.get_running_loop()
        self.engine.start()
        # No permessage-deflate: PCM barely compresses, and deflating 50 frames a second per session
        # cost the event loop a fifth of its work at 16 sessions (docs/benchmarks.md, "Where a tick goes").
        self._server = await serve(self._handler, host, port, process_request=self._process_request,
                                   max_size=P.MAX_MESSAGE_BYTES, max_queue=P.MAX_QUEUED_MESSAGES,
                                   ping_interval=20, ping_timeout=20, close_timeout=2, compression=None)
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
