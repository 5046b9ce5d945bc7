"""The native wire protocol (docs/protocol.md): constants, server events and client-event parsing.

The constants live in antiphon.common.wire, which clients import; this module is the server's."""
from __future__ import annotations

import json

from antiphon.common.wire import (  # noqa: F401 - the server's protocol module re-exports the constants
    PROTOCOL_VERSION, WS_PATH, MIN_RATE, MAX_RATE, MAX_MESSAGE_BYTES, MAX_QUEUED_MESSAGES, CLOSE_NORMAL,
    CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_INTERNAL_ERROR, CLOSE_TRY_LATER, E_BAD_JSON,
    E_BAD_EVENT, E_UNKNOWN_EVENT, E_BAD_AUDIO, E_CONFIG_LOCKED, E_INPUT_OVERFLOW, MAX_CLOSE_REASON_BYTES,
    MAX_PING_ID_CHARS)

SAMPLING_FIELDS = {"text_temperature": float, "text_top_k": int, "text_top_p": float,
                   "audio_temperature": float, "audio_top_k": int, "audio_top_p": float}


def close_reason(text: str) -> str:
    """`text` cut to what a close frame can carry, on a character boundary."""
    return text.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON; numbers must be finite")


def loads(text: str):
    """JSON as RFC 8259 has it: NaN and Infinity, which Python would accept, are refused."""
    return json.loads(text, parse_constant=_no_constant)


class ProtocolError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def error_event(code: str, message: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": message})


def parse_client_event(text: str) -> dict:
    """A JSON client event, checked field by field. Raises ProtocolError saying what was expected."""
    try:
        event = loads(text)
    except (ValueError, RecursionError) as e:
        raise ProtocolError(E_BAD_JSON, f"text messages must be JSON objects: {e}") from None
    if not isinstance(event, dict):
        raise ProtocolError(E_BAD_EVENT, f"an event must be a JSON object, got {type(event).__name__}")
    kind = event.get("type")
    if kind == "config":
        return _parse_config(event)
    if kind == "ping":
        ping_id = event.get("id")
        if ping_id is not None and not (type(ping_id) in (str, int, float) and len(str(ping_id)) <= MAX_PING_ID_CHARS):
            raise ProtocolError(E_BAD_EVENT, f"ping id must be a string or number of at most {MAX_PING_ID_CHARS} "
                                "characters")
        return {"type": "ping", "id": ping_id}
    if not isinstance(kind, str):
        raise ProtocolError(E_BAD_EVENT, "an event needs a string field 'type' ('config' or 'ping')")
    raise ProtocolError(E_UNKNOWN_EVENT, f"unknown event type {kind[:40]!r}; expected 'config' or 'ping'")


def _parse_config(event: dict) -> dict:
    allowed = {"type", "sample_rate", "sampling", "frame_marks", "keep_input"}
    extra = set(event) - allowed
    if extra:
        raise ProtocolError(E_BAD_EVENT, f"unknown config fields {sorted(extra)[:5]}; allowed: {sorted(allowed)}")
    out: dict = {"type": "config"}
    if "sample_rate" in event:
        rate = event["sample_rate"]
        if type(rate) is not int or not MIN_RATE <= rate <= MAX_RATE:
            raise ProtocolError(E_BAD_EVENT, f"sample_rate must be an integer in [{MIN_RATE}, {MAX_RATE}], got {rate!r}")
        out["sample_rate"] = rate
    for flag in ("frame_marks", "keep_input"):
        if flag in event:
            if type(event[flag]) is not bool:
                raise ProtocolError(E_BAD_EVENT, f"{flag} must be true or false")
            out[flag] = event[flag]
    if "sampling" in event:
        s = event["sampling"]
        if not isinstance(s, dict):
            raise ProtocolError(E_BAD_EVENT, "sampling must be an object")
        bad = set(s) - set(SAMPLING_FIELDS)
        if bad:
            raise ProtocolError(E_BAD_EVENT, f"unknown sampling fields {sorted(bad)[:5]}; allowed: {sorted(SAMPLING_FIELDS)}")
        for k, v in s.items():
            want = SAMPLING_FIELDS[k]
            ok = type(v) is int if want is int else type(v) in (int, float)
            if not ok:
                raise ProtocolError(E_BAD_EVENT, f"sampling.{k} must be {'an integer' if want is int else 'a number'}, got {v!r}")
        out["sampling"] = dict(s)
    return out


def check_audio_message(data: bytes, max_bytes: int) -> None:
    if len(data) == 0:
        raise ProtocolError(E_BAD_AUDIO, "empty audio message; send PCM16 little-endian mono samples")
    if len(data) % 2:
        raise ProtocolError(E_BAD_AUDIO, f"audio messages must hold whole 16-bit samples, got {len(data)} bytes")
    if len(data) > max_bytes:
        raise ProtocolError(E_BAD_AUDIO, f"audio message of {len(data)} bytes exceeds {max_bytes}")
