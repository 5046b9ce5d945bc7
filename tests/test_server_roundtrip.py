"""A WAV through the real server and real WebSocket clients."""
import asyncio
import json
import urllib.request

import numpy as np
import pytest

from antiphon.client.connection import AntiphonClient, stream_file
from conftest import speech_like


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


async def test_round_trip_of_a_wav(server_factory):
    srv = await server_factory(max_sessions=2)
    client = await AntiphonClient.connect(srv.url, frame_marks=True)
    hello = client.hello
    assert hello["protocol"] == 1 and hello["sample_rate"] == 16000 and hello["frame_size"] == 640
    assert hello["model"] == "random:tiny" and hello["random_weights"] is True
    audio = speech_like(1.0, 16000)
    out, events = await stream_file(client, audio, realtime=True, tail_seconds=0.2)
    frames_sent = 25 + 5
    assert len(out) >= frames_sent * 640
    assert np.abs(out).max() > 0  # the random agent makes sound
    marks = [e for e in events if e["type"] == "frame"]
    assert [m["index"] for m in marks] == list(range(len(marks)))
    consumed = [m["input_index"] for m in marks if m["input_index"] is not None]
    # every speech frame used once, in order (a quiet frame of the tail may be skipped after a hiccup)
    assert consumed == sorted(set(consumed)) and set(range(25)) <= set(consumed)
    await client.close()


async def test_eight_concurrent_clients_with_different_start_times(server_factory):
    srv = await server_factory(max_sessions=8)

    async def user(i):
        await asyncio.sleep(0.1 * i)
        c = await AntiphonClient.connect(srv.url, frame_marks=True)
        out, events = await stream_file(c, speech_like(0.6, 16000, seed=i), tail_seconds=0.1)
        await c.close()
        used = [e["input_index"] for e in events if e["type"] == "frame" and e["input_index"] is not None]
        return len(out), used, c.hello["session_id"]

    results = await asyncio.gather(*(user(i) for i in range(8)))
    assert len({r[2] for r in results}) == 8
    for n, used, _ in results:
        assert n >= 15 * 640
        assert used == list(range(len(used))) and len(used) >= 15
    await asyncio.sleep(0.2)
    assert srv.engine.free_slots() == 8


@pytest.mark.parametrize("rate", [16000, 48000, 8000])
async def test_resampling_both_ways(server_factory, rate):
    srv = await server_factory()
    client = await AntiphonClient.connect(srv.url, sample_rate=rate, frame_marks=True)
    assert client.frame_samples == 640 * rate // 16000
    # a 440 Hz tone at the client's rate reaches the engine as 440 Hz at 16 kHz
    t = np.arange(rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    got = []
    session = next(iter(srv.sessions.values()))[0]
    orig = session.on_output

    def spy(out):
        got.append(out.user_pcm.copy())
        orig(out)

    session.on_output = spy
    out, _ = await stream_file(client, tone, tail_seconds=0.2)
    await client.close()
    assert abs(len(out) - 30 * client.frame_samples) <= 2 * client.frame_samples
    user = np.concatenate(got)
    spectrum = np.abs(np.fft.rfft(user[4000:12000] * np.hanning(8000)))
    peak_hz = np.argmax(spectrum) * 16000 / 8000
    assert abs(peak_hz - 440) < 5


async def test_health_ready_metrics(server_factory):
    srv = await server_factory(max_sessions=1)
    loop = asyncio.get_running_loop()
    status, body = await loop.run_in_executor(None, http_get, srv.http + "/healthz")
    assert status == 200
    status, body = await loop.run_in_executor(None, http_get, srv.http + "/readyz")
    assert status == 200 and json.loads(body)["free_slots"] == 1
    c = await AntiphonClient.connect(srv.url)
    await c.send_audio(np.zeros(640, np.float32))
    await asyncio.sleep(0.3)
    status, body = await loop.run_in_executor(None, http_get, srv.http + "/readyz")
    assert status == 503 and json.loads(body)["free_slots"] == 0
    status, body = await loop.run_in_executor(None, http_get, srv.http + "/metrics")
    text = body.decode()
    assert status == 200
    assert "antiphon_sessions 1.0" in text
    assert "antiphon_bytes_in_total 1280.0" in text
    assert "antiphon_tick_seconds_count" in text and "antiphon_input_underruns_total" in text
    await c.close()
    status, body = await loop.run_in_executor(None, http_get, srv.http + "/nope")
    assert status == 404
    status, body = await loop.run_in_executor(None, http_get, srv.http + "/../../etc/passwd")
    assert status == 404


@pytest.mark.parametrize("path", ["/ws", "/v1/realtime"])
async def test_frames_go_uncompressed_even_when_the_client_offers_deflate(server_factory, path):
    """Audio barely compresses; deflating every frame costs the event loop CPU it needs for ticks."""
    from websockets.asyncio.client import connect

    srv = await server_factory(max_sessions=1)
    async with connect(f"ws://127.0.0.1:{srv.port}{path}", compression="deflate") as ws:
        assert "permessage-deflate" in ws.request.headers.get("Sec-WebSocket-Extensions", "")
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert ws.protocol.extensions == []
        assert json.loads(await ws.recv())["type"] in ("hello", "session.created")
