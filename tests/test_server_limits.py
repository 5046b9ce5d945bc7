"""Limits, refusals and malformed input: clear errors or the right close code, and a well-behaved
client on the same server is not disturbed."""
import asyncio
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from antiphon.client.connection import AntiphonClient, AntiphonError, stream_file
from antiphon.server import protocol as P
from conftest import speech_like


async def test_max_sessions_refuses_with_try_again_later(server_factory):
    srv = await server_factory(max_sessions=1)
    first = await AntiphonClient.connect(srv.url)
    with pytest.raises(AntiphonError, match="cannot take a session now: server full"):
        await AntiphonClient.connect(srv.url)
    async with connect(srv.url) as ws:
        await asyncio.sleep(0.1)
        with pytest.raises(Exception):
            await ws.recv()
        assert ws.close_code == P.CLOSE_TRY_LATER
    await first.close()
    await asyncio.sleep(0.1)
    again = await AntiphonClient.connect(srv.url)  # the slot came back
    await again.close()


async def test_token_and_origin(server_factory):
    srv = await server_factory(token="s3cret", allowed_origins=["http://good.example"])
    with pytest.raises(AntiphonError, match="wrong token"):
        await AntiphonClient.connect(srv.url)
    with pytest.raises(AntiphonError, match="wrong token"):
        await AntiphonClient.connect(srv.url, token="nope")
    ok = await AntiphonClient.connect(srv.url, token="s3cret")
    await ok.close()
    ok = await AntiphonClient.connect(srv.url + "?token=s3cret", origin="http://good.example")
    await ok.close()
    with pytest.raises(AntiphonError, match="origin http://evil.example is not allowed"):
        await AntiphonClient.connect(srv.url, token="s3cret", origin="http://evil.example")


async def test_server_not_running():
    with pytest.raises(AntiphonError, match="no Antiphon server at"):
        await AntiphonClient.connect("ws://127.0.0.1:9/ws", open_timeout=2)


BAD_MESSAGES = [
    (b"\x01\x02\x03", P.E_BAD_AUDIO),
    (b"", P.E_BAD_AUDIO),
    ("{not json", P.E_BAD_JSON),
    ("[1, 2]", P.E_BAD_EVENT),
    ('{"type": "dance"}', P.E_UNKNOWN_EVENT),
    ('{"kind": "config"}', P.E_BAD_EVENT),
    ('{"type": "config", "sample_rate": "fast"}', P.E_BAD_EVENT),
    ('{"type": "config", "sample_rate": 1000000}', P.E_BAD_EVENT),
    ('{"type": "config", "sampling": {"text_top_k": 1.5}}', P.E_BAD_EVENT),
    ('{"type": "config", "sampling": {"text_top_p": 0}}', P.E_BAD_EVENT),
    ('{"type": "config", "volume": 3}', P.E_BAD_EVENT),
]


async def test_malformed_input_gets_errors_and_others_are_undisturbed(server_factory):
    srv = await server_factory(max_sessions=3)
    good = await AntiphonClient.connect(srv.url, frame_marks=True)
    good_task = asyncio.create_task(stream_file(good, speech_like(1.5, 16000), tail_seconds=0.2))
    bad = await AntiphonClient.connect(srv.url)
    for message, code in BAD_MESSAGES:
        await bad.ws.send(message)
        while True:
            reply = await bad.recv(timeout=5)
            if isinstance(reply, dict) and reply["type"] == "error":
                break
        assert reply["code"] == code, (message, reply)
        assert reply["message"]
    # garbage bytes of even length are valid PCM16: accepted as audio (noise), no error
    await bad.send_audio(np.frombuffer(np.random.default_rng(0).bytes(1280), dtype=np.int16))
    # config after audio is refused
    await bad.send_event({"type": "config", "sample_rate": 48000})
    while True:
        reply = await bad.recv(timeout=5)
        if isinstance(reply, dict) and reply["type"] == "error":
            break
    assert reply["code"] == P.E_CONFIG_LOCKED
    out, events = await good_task
    used = [e["input_index"] for e in events if e["type"] == "frame" and e["input_index"] is not None]
    # every speech frame used once, in order (a quiet frame of the tail may be skipped after a hiccup)
    assert used == sorted(set(used)) and set(range(37)) <= set(used)
    await good.close()
    await bad.close()


async def test_oversized_message_closes_with_1009(server_factory):
    srv = await server_factory()
    c = await AntiphonClient.connect(srv.url)
    await c.ws.send(b"\x00" * (P.MAX_MESSAGE_BYTES + 2))
    with pytest.raises(AntiphonError, match="too big"):
        for _ in range(100):
            await c.recv(timeout=5)
    assert c.ws.close_code == P.CLOSE_TOO_BIG


async def test_input_faster_than_real_time_is_bounded(server_factory):
    srv = await server_factory(max_buffer_seconds=0.4)
    c = await AntiphonClient.connect(srv.url)
    await c.send_audio(np.zeros(16000 * 2, np.float32))  # 2 s at once; 0.4 s fit
    while True:
        msg = await c.recv(timeout=5)
        if isinstance(msg, dict) and msg["type"] == "error":
            break
    assert msg["code"] == P.E_INPUT_OVERFLOW
    session = next(iter(srv.sessions.values()))[0]
    assert session.dropped_frames >= 50 - 10 - 2
    await c.close()


async def test_disconnect_mid_stream_frees_the_slot(server_factory):
    srv = await server_factory(max_sessions=1)
    c = await AntiphonClient.connect(srv.url)
    await c.send_audio(np.zeros(1000, np.float32))  # not a whole frame
    c.ws.transport.abort()  # vanish without a closing handshake
    for _ in range(50):
        await asyncio.sleep(0.04)
        if srv.engine.free_slots() == 1 and all(s is None for s in srv.engine.slots):
            break
    assert srv.engine.free_slots() == 1
    again = await AntiphonClient.connect(srv.url)
    await again.close()


async def test_idle_timeout_closes(server_factory):
    srv = await server_factory(idle_timeout=0.3)
    c = await AntiphonClient.connect(srv.url)
    with pytest.raises(EOFError, match="idle"):
        for _ in range(100):
            await c.recv(timeout=5)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.builds(json.dumps, st.dictionaries(st.text(max_size=10), st.none() | st.integers() | st.floats() | st.text(max_size=10), max_size=5)))
def test_event_parser_never_crashes(text):
    try:
        event = P.parse_client_event(text)
    except P.ProtocolError as e:
        assert e.code in (P.E_BAD_JSON, P.E_BAD_EVENT, P.E_UNKNOWN_EVENT) and str(e)
    else:
        assert event["type"] in ("config", "ping")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_audio_frame_parser_never_crashes(data):
    from antiphon.server.session import Session

    try:
        P.check_audio_message(data, 2048)
    except P.ProtocolError as e:
        assert e.code == P.E_BAD_AUDIO
        return
    s = Session(640, 16000, 10, loop=None)
    s.push_pcm16(data)
    assert s.input_frames == len(data) // 2 // 640


async def test_a_failed_engine_closes_its_sessions_and_refuses_new_ones(server_factory):
    """Fault injection: no input reaches a failing tick through the protocol (a device mismatch on a
    GPU once did, and every session then waited in silence), so the tick is replaced by one
    that raises."""
    import urllib.error
    import urllib.request

    srv = await server_factory(max_sessions=2)
    client = await AntiphonClient.connect(srv.url)

    def broken_tick():
        raise RuntimeError("injected fault")
    srv.engine.tick = broken_tick
    await client.send_audio(np.zeros(client.frame_samples * 3, np.float32))
    with pytest.raises(AntiphonError, match=r"failed: the engine failed \(RuntimeError: injected fault\)"):
        while True:
            await client.recv(timeout=10)
    with pytest.raises(AntiphonError, match="the engine failed"):
        await AntiphonClient.connect(srv.url)
    loop = asyncio.get_running_loop()

    def readyz():
        try:
            urllib.request.urlopen(srv.http + "/readyz", timeout=5)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    status, body = await loop.run_in_executor(None, readyz)
    assert status == 503 and body["engine_failure"] == "RuntimeError: injected fault" and not body["ready"]
