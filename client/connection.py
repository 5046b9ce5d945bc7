"""The Python client library: one implementation of the protocol on the client side, used by
`antiphon talk`, the benchmark and the evaluation."""
from __future__ import annotations

import asyncio
import json

import numpy as np
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from antiphon.common import wire as P
from antiphon.common.audio import QUIET_RUN, SPEECH_RMS, frame_rms

from .pacing import send_frames


class AntiphonError(RuntimeError):
    """A failure a user can act on, in words."""


def explain_close(code: int | None, reason: str, url: str) -> str:
    if code == P.CLOSE_POLICY:
        return f"the server at {url} refused the connection: {reason or 'policy'} (check --token / origin)"
    if code == P.CLOSE_TRY_LATER:
        return f"the server at {url} cannot take a session now: {reason or 'full'}; try again later"
    if code == P.CLOSE_GOING_AWAY:
        return f"the server at {url} is shutting down"
    if code == P.CLOSE_TOO_BIG:
        return f"the server at {url} closed the session: a message was too big ({reason})"
    if code == P.CLOSE_INTERNAL_ERROR:
        return f"the server at {url} failed: {reason or 'internal error'}"
    return f"the connection to {url} closed ({code}: {reason or 'no reason given'})"


def closed_error(e: ConnectionClosed, url: str) -> AntiphonError:
    code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, "")
    return AntiphonError(explain_close(code, reason, url))


class AntiphonClient:
    """`client = await AntiphonClient.connect(url)`; `await client.send_audio(pcm)`;
    `msg = await client.recv()` gives bytes (PCM16 audio) or a dict (event)."""

    def __init__(self, ws, hello: dict, url: str):
        self.ws, self.hello, self.url = ws, hello, url
        self.sample_rate = hello["sample_rate"]

    @classmethod
    async def connect(cls, url: str = "ws://127.0.0.1:8765/ws", *, token: str | None = None,
                      sample_rate: int | None = None, sampling: dict | None = None, frame_marks: bool = False,
                      keep_input: bool = False, origin: str | None = None, open_timeout: float = 10.0) -> "AntiphonClient":
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            ws = await ws_connect(url, additional_headers=headers, origin=origin, open_timeout=open_timeout,
                                  max_size=P.MAX_MESSAGE_BYTES)
        except (ConnectionRefusedError, OSError) as e:
            raise AntiphonError(f"no Antiphon server at {url} ({e.strerror or e}); start one with `antiphon serve`") from None
        except InvalidStatus as e:
            raise AntiphonError(f"{url} is not an Antiphon WebSocket endpoint (HTTP {e.response.status_code})") from None
        try:
            hello = json.loads(await ws.recv())
        except ConnectionClosed as e:
            raise closed_error(e, url) from None
        if hello.get("type") != "hello" or hello.get("protocol") != P.PROTOCOL_VERSION:
            await ws.close()
            raise AntiphonError(f"{url} speaks protocol {hello.get('protocol')!r}; this client speaks {P.PROTOCOL_VERSION}")
        client = cls(ws, hello, url)
        config: dict = {}
        if sample_rate and sample_rate != hello["sample_rate"]:
            config["sample_rate"] = sample_rate
        if sampling:
            config["sampling"] = sampling
        if frame_marks:
            config["frame_marks"] = True
        if keep_input:  # every frame is heard, none skipped when the server falls behind
            config["keep_input"] = True
        if config:
            await client.send_event({"type": "config", **config})
            client.sample_rate = sample_rate or client.sample_rate
            while True:  # audio and stats may not come before the config is acknowledged
                msg = await client.recv()
                if isinstance(msg, dict) and msg.get("type") == "config_ok":
                    break
                if isinstance(msg, dict) and msg.get("type") == "error":
                    raise AntiphonError(f"the server refused the session config: {msg['message']}")
        return client

    @property
    def frame_samples(self) -> int:
        """Samples per codec frame at this client's sample rate."""
        return round(self.hello["frame_size"] * self.sample_rate / self.hello["sample_rate"])

    async def send_audio(self, pcm) -> None:
        """float32 in [-1, 1] or int16 samples, mono, at this client's sample rate."""
        a = np.asarray(pcm)
        if a.dtype != np.int16:
            a = (np.clip(a, -1.0, 1.0) * 32767.0).astype(np.int16)
        await self._send(a.astype("<i2").tobytes())

    async def send_event(self, event: dict) -> None:
        await self._send(json.dumps(event))

    async def _send(self, message) -> None:
        try:
            await self.ws.send(message)
        except ConnectionClosed as e:
            raise closed_error(e, self.url) from None

    async def recv(self, timeout: float | None = None):
        """Next message: bytes (agent audio, PCM16) or dict (event). Raises AntiphonError on close."""
        try:  # asyncio.timeout, not wait_for: no task made per message
            async with asyncio.timeout(timeout):
                msg = await self.ws.recv()
        except ConnectionClosed as e:
            if e.rcvd and e.rcvd.code == P.CLOSE_NORMAL:
                raise EOFError(e.rcvd.reason) from None
            raise closed_error(e, self.url) from None
        return msg if isinstance(msg, bytes) else json.loads(msg)

    async def close(self) -> None:
        await self.ws.close(P.CLOSE_NORMAL, "client done")

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


def pcm16_to_float(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


async def stream_file(client: AntiphonClient, audio: np.ndarray, realtime: bool = True,
                      tail_seconds: float = 0.5, on_message=None, until_answered: bool = False,
                      on_sent=None) -> tuple[np.ndarray, list[dict]]:
    """Send `audio` (float32 at the client's rate) frame by frame (in real time unless told not
    to), then silence, and collect the agent's audio: `tail_seconds` of silence, or with
    `until_answered` until the agent has spoken and then been quiet QUIET_RUN frames (at most
    `tail_seconds`). `on_sent(index, time)` is told when each frame goes."""
    n = client.frame_samples
    frames = [audio[i:i + n] for i in range(0, len(audio), n)]
    if frames and len(frames[-1]) < n:
        frames[-1] = np.pad(frames[-1], (0, n - len(frames[-1])))
    tail = int(round(tail_seconds * client.hello["sample_rate"] / client.hello["frame_size"]))
    out, events = [], []
    state = {"sent": 0, "spoke": False, "quiet": 0, "over": False}
    silence = np.zeros(n, dtype=np.float32)

    def next_frame(i):
        if i >= len(frames) + tail or (until_answered and state["over"]):
            return None
        return frames[i] if i < len(frames) else silence

    def sent(i, t):
        state["sent"] = i + 1
        if on_sent:
            on_sent(i, t)

    async def sender():
        await send_frames(client, next_frame, realtime=realtime, on_sent=sent)

    task = asyncio.create_task(sender())
    try:
        while not task.done() or len(out) < state["sent"]:  # one binary message per output frame
            msg = await client.recv(timeout=30)
            if on_message:
                on_message(msg)
            if isinstance(msg, bytes):
                out.append(pcm16_to_float(msg))
                loud = frame_rms(out[-1]) > SPEECH_RMS
                state["spoke"] |= loud and len(out) > 1
                state["quiet"] = 0 if loud else state["quiet"] + 1
                state["over"] |= state["spoke"] and state["quiet"] >= QUIET_RUN and len(out) >= len(frames)
            else:
                events.append(msg)
        await task
    finally:
        task.cancel()
    return (np.concatenate(out) if out else np.zeros(0, np.float32)), events
