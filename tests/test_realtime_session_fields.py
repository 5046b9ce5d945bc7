"""Every session field a Realtime client sets is honoured, refused with an error naming it, or kept
and echoed back; the session object and the events come in the shape the client speaks (GA, or
beta with the `OpenAI-Beta: realtime=v1` header), each validated against the openai SDK's own types."""
import asyncio
import json

import numpy as np
import pytest
import websockets
from openai.types import realtime as ga
from openai.types.beta import realtime as beta
from pydantic import TypeAdapter

from test_realtime import RATE, b64


async def recv(ws, kind: str, seen: list | None = None, timeout: float = 20) -> dict:
    async def go():
        while True:
            event = json.loads(await ws.recv())
            if seen is not None:
                seen.append(event)
            if event["type"] == kind:
                return event
    return await asyncio.wait_for(go(), timeout)


def url(srv) -> str:
    return f"ws://127.0.0.1:{srv.port}/v1/realtime?model=antiphon"


async def test_ga_fields_kept_and_echoed_valid_against_the_sdk(server_factory):
    srv = await server_factory()
    async with websockets.connect(url(srv)) as ws:
        ga.SessionCreatedEvent.model_validate(await recv(ws, "session.created"))
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "realtime", "model": "gpt-realtime", "tool_choice": "auto", "tools": [], "tracing": None,
            "include": ["item.input_audio_transcription.logprobs"], "max_output_tokens": "inf",
            "output_modalities": ["audio"],
            "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"},
                                "noise_reduction": {"type": "near_field"},
                                "turn_detection": {"type": "semantic_vad", "eagerness": "auto"}},
                      "output": {"voice": "ash", "speed": 1.1}}}}))
        event = await recv(ws, "session.updated")
        session = ga.SessionUpdatedEvent.model_validate(event).session
        assert session.audio.output.voice == "ash" and session.audio.output.speed == 1.1
        assert session.audio.input.transcription.model == "gpt-4o-mini-transcribe"
        assert session.audio.input.noise_reduction.type == "near_field"
        assert session.audio.input.turn_detection.type == "semantic_vad"
        assert session.include == ["item.input_audio_transcription.logprobs"]


@pytest.mark.parametrize("session, code, param", [
    ({"bogus": 1}, "unknown_parameter", "session.bogus"),
    ({"audio": {"output": {"volume": 2}}}, "unknown_parameter", "session.audio.output.volume"),
    ({"type": "transcription"}, "unsupported_session_type", "session.type"),
    ({"output_modalities": ["video"]}, "unsupported_modalities", "session.output_modalities"),
    ({"modalities": []}, "unsupported_modalities", "session.modalities"),
    ({"tools": [{"type": "function", "name": "f", "parameters": {}}]}, "unsupported_tools", "session.tools"),
    ({"audio": {"output": {"voice": 5}}}, "invalid_value", "session.audio.output.voice"),
    ({"audio": {"input": {"transcription": "yes"}}}, "invalid_value", "session.audio.input.transcription"),
])
async def test_fields_that_cannot_be_honoured_are_named(server_factory, session, code, param):
    srv = await server_factory()
    async with websockets.connect(url(srv)) as ws:
        await recv(ws, "session.created")
        await ws.send(json.dumps({"type": "session.update", "event_id": "evt_1", "session": session}))
        error = await recv(ws, "error")
        ga.RealtimeErrorEvent.model_validate(error)
        assert (error["error"]["code"], error["error"]["param"], error["error"]["event_id"]) == (code, param, "evt_1")
        # the refused update changed nothing, and the session goes on
        await ws.send(json.dumps({"type": "session.update", "session": {"audio": {"output": {"voice": "ash"}}}}))
        updated = ga.SessionUpdatedEvent.model_validate(await recv(ws, "session.updated")).session
        assert updated.audio.output.voice == "ash" and updated.output_modalities == ["audio"]


async def test_beta_clients_get_beta_shapes_throughout(server_factory):
    srv = await server_factory()
    any_event = TypeAdapter(beta.RealtimeServerEvent)
    seen = []
    t = np.arange(int(2.0 * RATE)) / RATE
    pcm = (0.3 * np.sin(2 * np.pi * 180 * t) * (t < 1.2)).astype(np.float32)
    async with websockets.connect(url(srv), additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        created = beta.SessionCreatedEvent.model_validate(await recv(ws, "session.created", seen))
        assert created.session.input_audio_format == "pcm16" and created.session.turn_detection.type == "server_vad"
        await ws.send(json.dumps({"type": "session.update", "session": {
            "modalities": ["text", "audio"], "voice": "verse", "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": None, "temperature": 0.7}}))
        session = beta.SessionUpdatedEvent.model_validate(await recv(ws, "session.updated", seen)).session
        assert (session.voice, session.temperature, session.turn_detection) == ("verse", 0.7, None)
        assert session.input_audio_transcription.model == "whisper-1"
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(pcm)}))
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        await ws.send(json.dumps({"type": "response.create"}))
        await recv(ws, "response.audio.delta", seen, timeout=30)
        await ws.send(json.dumps({"type": "response.cancel"}))
        await recv(ws, "response.done", seen)
    for event in seen:
        any_event.validate_python(event)  # every event in the beta SDK's union, in its beta shape
    items = [e["item"] for e in seen if e["type"] == "conversation.item.created"]
    assert any(i["role"] == "assistant" and i["content"][0]["type"] == "audio" for i in items)
    assert not any(e["type"].startswith(("response.output_audio", "response.output_text")) or
               e["type"] in ("conversation.item.added", "conversation.item.done") for e in seen)


@pytest.mark.parametrize("beta_client", [False, True])
async def test_text_output_carries_the_words_without_the_audio(server_factory, beta_client):
    """output_modalities ["text"] (beta: modalities): the agent's words as output_text (beta: text)
    deltas, no audio deltas, and a text content part; every event valid against the SDK's types."""
    srv = await server_factory()
    union = TypeAdapter(beta.RealtimeServerEvent if beta_client else ga.RealtimeServerEvent)
    headers = {"OpenAI-Beta": "realtime=v1"} if beta_client else {}
    delta, done = ("response.text.delta", "response.text.done") if beta_client else \
        ("response.output_text.delta", "response.output_text.done")
    t = np.arange(int(1.5 * RATE)) / RATE
    pcm = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    seen = []
    async with websockets.connect(url(srv), additional_headers=headers) as ws:
        await recv(ws, "session.created", seen)
        update = {"modalities": ["text"], "turn_detection": None} if beta_client else \
            {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        session = (await recv(ws, "session.updated", seen))["session"]
        assert session["modalities" if beta_client else "output_modalities"] == ["text"]
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(pcm)}))
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        await ws.send(json.dumps({"type": "response.create"}))
        for _ in range(3):
            await recv(ws, delta, seen, timeout=30)
        await ws.send(json.dumps({"type": "response.cancel"}))
        finished = await recv(ws, "response.done", seen)
    for event in seen:
        union.validate_python(event)
    kinds = {e["type"] for e in seen}
    assert done in kinds and not any("audio.delta" in k for k in kinds)
    said = "".join(e["delta"] for e in seen if e["type"] == delta)
    text_done = next(e for e in seen if e["type"] == done)
    content = finished["response"]["output"][0]["content"][0]
    assert content["type"] == ("text" if beta_client else "output_text")
    assert content["text"] == text_done["text"] == said and said
    assert finished["response"]["usage"]["output_token_details"]["audio_tokens"] == 0
