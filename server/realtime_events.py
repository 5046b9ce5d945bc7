"""The OpenAI Realtime protocol subset (docs/protocol.md, "OpenAI Realtime"): client-event checks,
the session object, error events and event ids. Knows nothing of the engine."""
from __future__ import annotations

import base64
import binascii
import itertools
import json

from .protocol import loads

PATH = "/v1/realtime"
RATE = 24000  # pcm16 at 24 kHz mono, both ways (the only format this endpoint speaks)
CLIENT_EVENTS = {"session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                 "input_audio_buffer.clear", "response.create", "response.cancel", "conversation.item.truncate",
                 "conversation.item.create", "conversation.item.retrieve", "conversation.item.delete"}
# Beta clients (header `OpenAI-Beta: realtime=v1`) get the older event names.
BETA_NAMES = {"response.output_audio.delta": "response.audio.delta",
              "response.output_audio.done": "response.audio.done",
              "response.output_audio_transcript.delta": "response.audio_transcript.delta",
              "response.output_audio_transcript.done": "response.audio_transcript.done",
              "response.output_text.delta": "response.text.delta", "response.output_text.done": "response.text.done"}

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
