"""The OpenAI Realtime endpoint, driven by the official `openai` package's realtime client (a
client nobody here wrote) against a real server on the shared engine."""
import asyncio
import base64
import math
import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr
from openai import AsyncOpenAI

RATE = 24000
LEAD_S = 0.6


@pytest.fixture(scope="module")
def question(tmp_path_factory):
    """espeak-ng speech at 24 kHz, LEAD_S of silence before it and 1.5 s after it."""
    path = tmp_path_factory.mktemp("rt") / "q.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "what is seven plus five"], check=True)
    x, sr = sf.read(path, dtype="float32")
    x = soxr.resample(x, sr, RATE).astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > 0.02)
    x = x[loud[0]: loud[-1] + 1] / np.abs(x).max() * 0.5
    pcm = np.concatenate([np.zeros(int(LEAD_S * RATE), np.float32), x, np.zeros(int(1.5 * RATE), np.float32)])
    return pcm, len(x) / RATE


def b64(pcm: np.ndarray) -> str:
    return base64.b64encode((pcm * 32767).astype("<i2").tobytes()).decode()


def connect(srv, **kwargs):
    client = AsyncOpenAI(api_key=kwargs.pop("api_key", "x"), websocket_base_url=f"ws://127.0.0.1:{srv.port}/v1")
    return client.realtime.connect(model="antiphon", **kwargs)


async def until(conn, kind: str, timeout: float = 20, seen: list | None = None):
    """Events up to and including the first of type `kind`."""
    async def go():
        while True:
            event = await conn.recv()
            if seen is not None:
                seen.append(event)
            if event.type == kind:
                return event
    return await asyncio.wait_for(go(), timeout)


async def send_audio(conn, pcm: np.ndarray, chunk_s: float = 0.1, realtime: bool = False):
    n = int(chunk_s * RATE)
    for i in range(0, len(pcm), n):
        await conn.input_audio_buffer.append(audio=b64(pcm[i:i + n]))
        if realtime:
            await asyncio.sleep(chunk_s)


async def test_server_vad_turn_streams_audio_and_transcript_then_cancel_and_truncate(server_factory, question):
    srv = await server_factory()
    pcm, speech_s = question
    async with connect(srv) as conn:
        created = await until(conn, "session.created")
        assert created.session.audio.input.turn_detection.type == "server_vad"
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": {
            "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 200, "silence_duration_ms": 400}}}})
        updated = await until(conn, "session.updated")
        td = updated.session.audio.input.turn_detection
        assert (td.prefix_padding_ms, td.silence_duration_ms, td.threshold) == (200, 400, 0.5)

        await send_audio(conn, pcm)
        seen = []
        started = await until(conn, "input_audio_buffer.speech_started", seen=seen)
        # speech begins at LEAD_S; the event reports it prefix_padding_ms earlier (to a 40 ms frame)
        assert abs(started.audio_start_ms - (LEAD_S * 1000 - 200)) <= 40
        stopped = await until(conn, "input_audio_buffer.speech_stopped", seen=seen)
        assert abs(stopped.audio_end_ms - (LEAD_S + speech_s) * 1000) <= 80
        assert stopped.item_id == started.item_id
        committed = await until(conn, "input_audio_buffer.committed", seen=seen)
        assert committed.item_id == started.item_id
        response = (await until(conn, "response.created", seen=seen)).response
        added = await until(conn, "response.output_item.added", seen=seen)
        assert added.response_id == response.id and added.item.role == "assistant"
        deltas, transcript = [], []
        while len(deltas) < 10:
            event = await until(conn, "response.output_audio.delta", seen=seen)
            assert event.response_id == response.id and event.item_id == added.item.id
            deltas.append(base64.b64decode(event.delta))
        # 40 ms frames of pcm16 at 24 kHz (960 samples), less the resampler's start-up delay
        assert all(len(d) % 2 == 0 for d in deltas) and 9 * 1920 <= sum(map(len, deltas)) <= 10 * 1920
        audio = np.frombuffer(b"".join(deltas), "<i2")
        assert np.abs(audio).max() > 0  # the random-weight agent babbles: real audio, not zeros
        await conn.response.cancel()
        done = await until(conn, "response.done", seen=seen)
        # by whole words: the random agent's bytes hold few spaces, so its last word comes at the close
        transcript = [e.delta for e in seen if e.type == "response.output_audio_transcript.delta"]
        assert transcript, "transcript deltas come from the inner monologue"
        assert done.response.status == "cancelled" and done.response.id == response.id
        # the item is as long as the audio its deltas carried (the resampler's chunks vary in
        # length, so not frames x 40 ms): openai-agents truncates at exactly that, rounded up
        sent = sum(len(base64.b64decode(e.delta)) for e in seen
                   if e.type == "response.output_audio.delta" and e.item_id == added.item.id)
        sent_ms = math.ceil(sent / 2 / RATE * 1000)
        await conn.conversation.item.truncate(item_id=added.item.id, content_index=0, audio_end_ms=sent_ms + 2)
        error = await until(conn, "error")
        assert (error.error.code, error.error.param) == ("invalid_value", "audio_end_ms")
        await conn.conversation.item.truncate(item_id=added.item.id, content_index=0, audio_end_ms=sent_ms)
        truncated = await until(conn, "conversation.item.truncated")
        assert (truncated.item_id, truncated.audio_end_ms) == (added.item.id, sent_ms)
        await conn.conversation.item.truncate(item_id=added.item.id, content_index=0, audio_end_ms=80)
        truncated = await until(conn, "conversation.item.truncated")
        assert (truncated.item_id, truncated.audio_end_ms) == (added.item.id, 80)

        await conn.send({"type": "response.cancel", "event_id": "evt_nothing_to_cancel"})
        error = await until(conn, "error")
        assert error.error.code == "response_cancel_not_active" and error.error.event_id == "evt_nothing_to_cancel"


async def test_manual_turns_barge_in_and_malformed_events(server_factory, question):
    srv = await server_factory()
    pcm, speech_s = question
    async with connect(srv) as conn:
        await until(conn, "session.created")
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        assert (await until(conn, "session.updated")).session.audio.input.turn_detection is None

        await conn.input_audio_buffer.commit()
        assert (await until(conn, "error")).error.code == "input_audio_buffer_commit_empty"

        # Malformed and unknown events get an error naming the event, and the session goes on.
        await conn.send({"type": "input_audio_buffer.append", "audio": "%%% not base64", "event_id": "evt_bad"})
        error = await until(conn, "error")
        assert (error.error.code, error.error.event_id, error.error.param) == ("invalid_audio", "evt_bad", "audio")
        await conn.send({"type": "transcription_session.update", "event_id": "evt_unknown"})
        error = await until(conn, "error")
        assert error.error.code == "unknown_event" and error.error.event_id == "evt_unknown"
        await conn.send({"type": "session.update", "event_id": "evt_fmt", "session": {
            "type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}})
        assert (await until(conn, "error")).error.code == "unsupported_format"

        await send_audio(conn, pcm[: int((LEAD_S + speech_s) * RATE)])
        await conn.input_audio_buffer.commit()
        await until(conn, "input_audio_buffer.committed")
        await conn.response.create()
        response = (await until(conn, "response.created")).response
        await conn.response.create()
        assert (await until(conn, "error")).error.code == "conversation_already_has_active_response"
        await until(conn, "response.output_audio.delta")
        await conn.input_audio_buffer.clear()
        await until(conn, "input_audio_buffer.cleared")

        # Barge-in: server VAD on again, the user talks during the response, which is cancelled.
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": {
            "type": "server_vad", "silence_duration_ms": 400}}}})
        await until(conn, "session.updated")
        await send_audio(conn, pcm[int(LEAD_S * RATE):])
        seen = []
        await until(conn, "input_audio_buffer.speech_started", seen=seen)
        done = await until(conn, "response.done", seen=seen)
        assert done.response.id == response.id and done.response.status == "cancelled"
        assert done.response.status_details.reason == "turn_detected"


async def test_beta_clients_get_the_older_event_names(server_factory, question):
    srv = await server_factory()
    pcm, _ = question
    async with connect(srv, extra_headers={"OpenAI-Beta": "realtime=v1"}) as conn:
        await until(conn, "session.created")
        await send_audio(conn, pcm)
        event = await until(conn, "response.audio.delta")
        assert base64.b64decode(event.delta)


async def test_same_token_and_session_limits_as_the_native_endpoint(server_factory):
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    srv = await server_factory(token="sesame", max_sessions=1)
    with pytest.raises((ConnectionClosed, InvalidStatus, Exception)) as refused:
        async with connect(srv, api_key="wrong") as conn:
            await until(conn, "session.created", timeout=5)
    assert "1008" in str(refused.value) or "token" in str(refused.value)
    async with connect(srv, api_key="sesame") as conn:
        await until(conn, "session.created")
        with pytest.raises(Exception) as full:
            async with connect(srv, api_key="sesame") as other:
                await until(other, "session.created", timeout=5)
        assert "1013" in str(full.value) or "full" in str(full.value)
