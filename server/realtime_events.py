"""The OpenAI Realtime protocol subset (docs/protocol.md, "OpenAI Realtime"): client-event checks,
the session object, error events and event ids. Knows nothing of the engine."""
from __future__ import annotations

import base64
import binascii
import itertools
import json

from .protocol import loads
from .vad import VadSettings

PATH = "/v1/realtime"
RATE = 24000  # pcm16 at 24 kHz mono, both ways (the only format this endpoint speaks)
CLIENT_EVENTS = {"session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                 "input_audio_buffer.clear", "response.create", "response.cancel", "conversation.item.truncate",
                 "conversation.item.create", "conversation.item.retrieve", "conversation.item.delete"}
# Beta clients (header `OpenAI-Beta: realtime=v1`) get the older event names.
BETA_NAMES = {"response.output_audio.delta": "response.audio.delta",
              "response.output_audio.done": "response.audio.done",
              "response.output_audio_transcript.delta": "response.audio_transcript.delta",
              "response.output_audio_transcript.done": "response.audio_transcript.done"}

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):012d}"


class RealtimeError(ValueError):
    def __init__(self, code: str, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.code, self.param, self.kind = code, param, kind


def error_event(e: RealtimeError, client_event_id: str | None) -> dict:
    return {"type": "error", "event_id": new_id("event"),
            "error": {"type": e.kind, "code": e.code, "message": str(e), "param": e.param,
                      "event_id": client_event_id}}


def parse(text: str | bytes) -> dict:
    if isinstance(text, bytes):
        raise RealtimeError("invalid_message", "this endpoint takes JSON text messages; audio goes in "
                            "input_audio_buffer.append as base64 pcm16")
    try:
        event = loads(text)
    except (ValueError, RecursionError) as e:
        raise RealtimeError("invalid_json", f"messages must be JSON objects: {e}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise RealtimeError("invalid_event", "an event must be a JSON object with a string `type`", "type")
    if event["type"] not in CLIENT_EVENTS:
        raise RealtimeError("unknown_event", f"unsupported event type {event['type']!r}; this server implements "
                            f"{sorted(CLIENT_EVENTS)}", "type")
    if "event_id" in event and not isinstance(event["event_id"], str):
        raise RealtimeError("invalid_event", "`event_id` must be a string", "event_id")
    return event


def client_event_id(text) -> str | None:
    """The offending event's id, if it can be read at all (for the error event)."""
    try:
        event = json.loads(text)
        return event.get("event_id") if isinstance(event, dict) and isinstance(event.get("event_id"), str) else None
    except (ValueError, TypeError, RecursionError):
        return None


def audio_of(event: dict) -> bytes:
    data = event.get("audio")
    if not isinstance(data, str):
        raise RealtimeError("invalid_audio", "`audio` must be a base64 string of pcm16 24 kHz mono", "audio")
    try:
        pcm = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RealtimeError("invalid_audio", "`audio` is not valid base64", "audio") from None
    if not pcm:
        raise RealtimeError("invalid_audio", "`audio` is empty; send base64 pcm16 24 kHz mono samples", "audio")
    if len(pcm) % 2:
        raise RealtimeError("invalid_audio", "pcm16 audio must have an even number of bytes", "audio")
    return pcm


def _int(d: dict, key: str, lo: int, hi: int, param: str) -> int | None:
    if key not in d:
        return None
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise RealtimeError("invalid_value", f"`{key}` must be an integer in [{lo}, {hi}]", f"{param}.{key}")
    return v


def _object(d: dict, key: str, param: str) -> dict:
    """d[key] as an object ({} when absent or null); anything else is the client's error."""
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RealtimeError("invalid_value", f"`{key}` must be an object, got {type(value).__name__}", f"{param}.{key}")
    return value


def _check_format(fmt, where: str) -> None:
    """pcm16 at 24 kHz mono: the beta string "pcm16" or the GA {"type": "audio/pcm", "rate": 24000}."""
    if fmt == "pcm16":
        return
    ok = (isinstance(fmt, dict) and fmt.get("type") in ("audio/pcm", "pcm16") and fmt.get("rate", RATE) == RATE
          and fmt.get("channels", 1) == 1 and set(fmt) <= {"type", "rate", "channels"})
    if not ok:
        raise RealtimeError("unsupported_format", f"only pcm16 at 24 kHz mono is supported "
                            f"({{\"type\": \"audio/pcm\", \"rate\": 24000}}), got {str(fmt)[:80]}", where)


class SessionConfig:
    """What a client may set with session.update, in the GA or the beta shape."""

    def __init__(self):
        self.vad: VadSettings | None = VadSettings()
        self.vad_type = "server_vad"
        self.create_response = True
        self.interrupt_response = True
        self.instructions = ""

    def update(self, session) -> None:
        if not isinstance(session, dict):
            raise RealtimeError("invalid_value", "`session` must be an object", "session")
        audio = _object(session, "audio", "session")
        input_cfg = _object(audio, "input", "session.audio")
        output_cfg = _object(audio, "output", "session.audio")
        for where, fmt in (("session.audio.input.format", input_cfg.get("format")),
                           ("session.audio.output.format", output_cfg.get("format")),
                           ("session.input_audio_format", session.get("input_audio_format")),
                           ("session.output_audio_format", session.get("output_audio_format"))):
            if fmt is not None:
                _check_format(fmt, where)
        if "turn_detection" in input_cfg or "turn_detection" in session:
            td = input_cfg["turn_detection"] if "turn_detection" in input_cfg else session["turn_detection"]
            self._turn_detection(td)
        if "instructions" in session:
            if not isinstance(session["instructions"], str):
                raise RealtimeError("invalid_value", "`instructions` must be a string", "session.instructions")
            self.instructions = session["instructions"]

    def _turn_detection(self, td) -> None:
        param = "session.audio.input.turn_detection"
        if td is None:
            self.vad = None
            return
        if not isinstance(td, dict) or td.get("type") not in ("server_vad", "semantic_vad"):
            raise RealtimeError("unsupported_turn_detection", "turn_detection must be null, "
                                "{\"type\": \"server_vad\", ...} or {\"type\": \"semantic_vad\", ...}", param)
        # semantic_vad: the full-duplex model already answers when a question is complete; its turn
        # events come from the same energy VAD, with the eagerness accepted and not used
        self.vad_type = td["type"]
        vad = VadSettings()
        if "threshold" in td:
            t = td["threshold"]
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
                raise RealtimeError("invalid_value", "`threshold` must be a number in [0, 1]", param + ".threshold")
            vad.threshold = float(t)
        vad.prefix_padding_ms = _int(td, "prefix_padding_ms", 0, 10000, param) or (
            0 if td.get("prefix_padding_ms") == 0 else vad.prefix_padding_ms)
        silence = _int(td, "silence_duration_ms", 40, 10000, param)
        vad.silence_duration_ms = silence if silence is not None else vad.silence_duration_ms
        for key in ("create_response", "interrupt_response"):
            if key in td:
                if not isinstance(td[key], bool):
                    raise RealtimeError("invalid_value", f"`{key}` must be a boolean", f"{param}.{key}")
                setattr(self, key, td[key])
        self.vad = vad

    def describe(self, session_id: str, model: str) -> dict:
        vad = self.vad
        td = None if vad is None else {
            "type": self.vad_type, "threshold": vad.threshold, "prefix_padding_ms": vad.prefix_padding_ms,
            "silence_duration_ms": vad.silence_duration_ms, "create_response": self.create_response,
            "interrupt_response": self.interrupt_response}
        fmt = {"type": "audio/pcm", "rate": RATE}
        return {"type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
                "output_modalities": ["audio"], "instructions": self.instructions,
                "audio": {"input": {"format": fmt, "turn_detection": td}, "output": {"format": fmt}}}
