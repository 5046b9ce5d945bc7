"""No one client takes the server down: settings beyond the model's range, bursts past max_sessions,
a client that never reads, a fault of one slot, oversized close reasons. Each test checks that the
engine still serves afterwards."""
import asyncio
import json
import os
import urllib.request

import numpy as np
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from antiphon.client.connection import AntiphonClient, AntiphonError, stream_file
from antiphon.model import SamplingSettings
from antiphon.harness.raw_client import open_raw
from antiphon.server import protocol as P
from antiphon.server.outbox import MAX_PENDING_BYTES
from conftest import speech_like


async def still_serves(srv) -> None:
    """A fresh session gets audio back, and the engine has not failed."""
    assert srv.engine.failure is None
    async with await AntiphonClient.connect(srv.url) as c:
        out, _ = await stream_file(c, speech_like(0.4, 16000), tail_seconds=0.2)
        assert out.size > 0


async def first_error(ws) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(msg, str) and json.loads(msg)["type"] == "error":
            return json.loads(msg)


@pytest.mark.parametrize("field,value", [("text_top_k", 10 ** 30), ("audio_top_k", 2 ** 63), ("text_top_k", 259),
                                         ("audio_top_k", 65)])  # the tiny model: 258 text tokens, 64 codes
async def test_top_k_beyond_the_vocabulary_is_refused_and_the_engine_lives(server_factory, field, value):
    srv = await server_factory()
    async with connect(srv.url) as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "config", "sampling": {field: value}}))
        err = await first_error(ws)
        assert err["code"] == P.E_BAD_EVENT and "at most the vocabulary" in err["message"], err
        await ws.send(np.zeros(1920, "<i2").tobytes())  # audio after the refused setting
        await asyncio.sleep(0.3)
    await still_serves(srv)


def test_settings_within_the_vocabulary_are_accepted(tiny_pair):
    _, model = tiny_pair
    vocab = model.vocab_sizes()
    SamplingSettings(text_top_k=vocab["text"], audio_top_k=vocab["audio"]).validate(vocab)
    with pytest.raises(ValueError, match="audio_top_k"):
        SamplingSettings(audio_top_k=vocab["audio"] + 1).validate(vocab)


@pytest.mark.parametrize("path", ["/ws", "/v1/realtime"])
async def test_a_burst_of_200_connections_admits_max_sessions_and_refuses_the_rest(server_factory, path):
    srv = await server_factory(max_sessions=8)
    url = f"ws://127.0.0.1:{srv.port}{path}"

    async def one():
        try:
            ws = await connect(url, open_timeout=30)
        except (OSError, asyncio.TimeoutError):
            return "unreachable"
        try:
            await asyncio.wait_for(ws.recv(), 15)
            return ws
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
    results = await asyncio.gather(*(one() for _ in range(200)))
    admitted = [r for r in results if not isinstance(r, (int, str, type(None)))]
    refused = [r for r in results if r == P.CLOSE_TRY_LATER]
    assert len(admitted) == 8, [r for r in results if isinstance(r, (int, str, type(None)))][:10]
    assert len(refused) == 192
    assert srv.engine.failure is None and srv.engine.free_slots() == 0
    await asyncio.gather(*(ws.close() for ws in admitted))
    for _ in range(100):
        if srv.engine.free_slots() == 8 and not srv.sessions:
            break
        await asyncio.sleep(0.05)
    assert srv.engine.free_slots() == 8
    await still_serves(srv)


def flood_without_reading(port: int, messages: int, audio: bool = False) -> tuple[int, bytes]:
    """A raw-socket WebSocket client (websockets' sans-I/O protocol) that sends `messages` pings (and
    audio) and never reads past the handshake, until sending stalls. Returns how many it sent before
    the server stopped taking them, and what was waiting for it then."""
    sock, proto = open_raw(port)
    sock.settimeout(2)  # a server that stopped reading us blocks sendall
    ping = json.dumps({"type": "ping", "id": "x" * P.MAX_PING_ID_CHARS}).encode()
    sent = 0
    try:
        for sent in range(messages):
            proto.send_text(ping)
            if audio and sent % 10 == 0:
                proto.send_binary(np.zeros(640 * 5, "<i2").tobytes())
            sock.sendall(b"".join(proto.data_to_send()))
    except OSError:  # timed out (the server stopped reading) or reset (it closed us)
        pass
    sock.settimeout(10)
    rest = b""
    try:
        while chunk := sock.recv(65536):
            rest += chunk
    except OSError:
        pass
    sock.close()
    return sent, rest


async def test_a_client_that_never_reads_is_closed_at_the_memory_bound(server_factory):
    """200 pings with 1 MB ids grew the server by 143 MB. Ping ids are bounded now; the flood is of
    the largest pings allowed and of audio whose answers are never read."""
    srv = await server_factory(max_sessions=2)
    rss_before = psutil.Process(os.getpid()).memory_info().rss
    peak = [0]

    async def watch():
        while True:
            for session, ws in list(srv.sessions.values()):
                peak[0] = max(peak[0], session.outbox.bytes + ws.transport.get_write_buffer_size())
            await asyncio.sleep(0.01)
    watcher = asyncio.create_task(watch())
    # far more pings than any machine sends in the seconds until the server cuts the connection
    sent, rest = await asyncio.to_thread(flood_without_reading, srv.port, 5_000_000)
    watcher.cancel()
    growth = psutil.Process(os.getpid()).memory_info().rss - rss_before
    assert sent < 4_999_999, "the server took 5M pings from a client that never read"
    assert srv.metrics.rejected.labels("not_reading")._value.get() == 1
    assert peak[0] <= MAX_PENDING_BYTES + 64 * 1024, peak[0]  # one bound, plus one message in flight
    assert growth < 64 << 20, f"the server grew {growth >> 20} MiB"
    # the server ended the connection (its close frame waits behind what the client never read, so
    # the reason reaches only a client that reads again in time; the metric above counts the close)
    for _ in range(200):
        if not srv.sessions:
            break
        await asyncio.sleep(0.05)
    assert rest.startswith(b"\x81") and not srv.sessions
    await still_serves(srv)


async def test_a_fault_of_one_slot_ends_that_session_only(server_factory):
    """Settings the protocol refuses cannot reach the engine any more, so this test hands the engine
    directly what a bug upstream would: an out-of-range setting for one slot."""
    srv = await server_factory(max_sessions=3)
    good = await AntiphonClient.connect(srv.url, frame_marks=True, keep_input=True)
    good_task = asyncio.create_task(stream_file(good, speech_like(2.0, 16000), tail_seconds=1.0))
    victim = await AntiphonClient.connect(srv.url)
    session = next(s for s, _ in srv.sessions.values() if s.id == victim.hello["session_id"])
    await victim.send_audio(np.zeros(640 * 3, np.float32))
    srv.engine.configure(session, SamplingSettings(text_top_k=2 ** 63))
    with pytest.raises(AntiphonError, match="session failed: its sampling settings failed"):
        while True:
            await victim.recv(timeout=10)
    out, events = await good_task
    used = [e["input_index"] for e in events if e["type"] == "frame" and e["input_index"] is not None]
    # the other session had every frame of its speech heard, in order (underruns of a late client
    # may leave the tail's last frames unanswered)
    assert used == list(range(len(used))) and len(used) >= 50
    assert srv.engine.failure is None and srv.metrics.session_faults._value.get() == 1
    await good.close()
    await still_serves(srv)


async def test_a_long_origin_is_refused_with_1008_and_a_cut_reason(server_factory):
    srv = await server_factory(allowed_origins=["http://good.example"])
    origin = "http://" + "a" * 300 + ".example"
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(srv.url, origin=origin) as ws:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == P.CLOSE_POLICY
    assert closed.value.rcvd.reason.startswith("origin http://aaa")
    assert len(closed.value.rcvd.reason.encode()) <= P.MAX_CLOSE_REASON_BYTES
    await still_serves(srv)


@pytest.mark.parametrize("header", ["Bearer", "bearer", "BEARER"])
async def test_the_bearer_scheme_is_case_insensitive(server_factory, header):
    srv = await server_factory(token="s3cret")
    async with connect(srv.url, additional_headers={"Authorization": f"{header} s3cret"}) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(srv.url, additional_headers={"Authorization": f"{header} s3cre"}) as ws:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == P.CLOSE_POLICY


async def test_a_failed_engine_turns_healthz_to_503(server_factory):
    srv = await server_factory()
    client = await AntiphonClient.connect(srv.url)

    def broken_tick():
        raise RuntimeError("device lost")
    srv.engine.tick = broken_tick
    await client.send_audio(np.zeros(640 * 3, np.float32))
    with pytest.raises(AntiphonError):
        while True:
            await client.recv(timeout=10)

    def healthz():
        try:
            return urllib.request.urlopen(srv.http + "/healthz", timeout=5).status
        except urllib.error.HTTPError as e:
            return e.code
    assert await asyncio.get_running_loop().run_in_executor(None, healthz) == 503
