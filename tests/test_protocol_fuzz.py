"""Property-based: every field of every client message of both protocols, filled with anything JSON
can hold (and some things Python's JSON would let through, such as NaN), against one real server.
Each message gets either its normal answer or an error event, never a dropped connection with
1011, and a concurrent session keeps getting every frame of its audio."""
import asyncio
import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from antiphon.client.connection import AntiphonClient, stream_file
from conftest import speech_like

anything = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)

NATIVE = {
    "config": ["sample_rate", "sampling", "frame_marks", "keep_input"],
    "sampling": ["text_temperature", "text_top_k", "text_top_p", "audio_temperature", "audio_top_k", "audio_top_p"],
    "ping": ["id"],
}
REALTIME = {
    "session.update": ["session"],
    "input_audio_buffer.append": ["audio"],
    "input_audio_buffer.commit": [], "input_audio_buffer.clear": [],
    "response.create": ["response"], "response.cancel": ["response_id"],
    "conversation.item.truncate": ["item_id", "content_index", "audio_end_ms"],
}
SESSION_PATHS = [["audio"], ["audio", "input"], ["audio", "output"], ["audio", "input", "format"],
                 ["audio", "output", "format"], ["audio", "input", "format", "channels"],
                 ["audio", "input", "format", "rate"], ["audio", "input", "turn_detection"],
                 ["audio", "input", "turn_detection", "threshold"],
                 ["audio", "input", "turn_detection", "silence_duration_ms"],
                 ["turn_detection"], ["instructions"], ["input_audio_format"], ["output_audio_format"]]


def nested(path: list[str], value) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value


@st.composite
def native_message(draw):
    kind = draw(st.sampled_from(["config", "sampling", "ping"]))
    if kind == "sampling":
        return {"type": "config", "sampling": {draw(st.sampled_from(NATIVE["sampling"])): draw(anything)}}
    return {"type": kind, draw(st.sampled_from(NATIVE[kind])): draw(anything)}


@st.composite
def session_update(draw):
    return {"type": "session.update", "session": nested(draw(st.sampled_from(SESSION_PATHS)), draw(anything))}


@st.composite
def realtime_message(draw):
    kind = draw(st.sampled_from(sorted(REALTIME)))
    event = {"type": kind, "event_id": draw(st.text(max_size=8) | st.integers())}
    if kind == "session.update" and draw(st.booleans()):
        event["session"] = nested(draw(st.sampled_from(SESSION_PATHS)), draw(anything))
    elif REALTIME[kind]:
        event[draw(st.sampled_from(REALTIME[kind]))] = draw(anything)
    return event


class ServerThread:
    """The real server in its own event loop, so hypothesis' synchronous examples can talk to it."""

    def __init__(self, tiny_pair):
        from antiphon.server.app import AntiphonServer

        self.loop = asyncio.new_event_loop()
        codec, model = tiny_pair
        self.server = AntiphonServer(codec, model, max_sessions=4, random_weights=True)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop).result(30)
        self.port = self.server.port

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def running(tiny_pair):
    s = ServerThread(tiny_pair)
    yield s
    s.stop()


def answer_of(ws, message: dict) -> dict:
    """The first JSON reply that is not a stats or frame event (the server's answer to `message`)."""
    ws.send(json.dumps(message, allow_nan=True))
    while True:
        reply = ws.recv(timeout=10)
        if isinstance(reply, str):
            event = json.loads(reply)  # the server's own JSON must be strict
            if event["type"] not in ("stats", "frame", "text"):
                return event


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(message=native_message())
def test_native_messages_get_an_answer_or_an_error(running, message):
    with connect(f"ws://127.0.0.1:{running.port}/ws") as ws:
        json.loads(ws.recv(timeout=10))  # hello
        event = answer_of(ws, message)
        assert event["type"] in ("config_ok", "pong", "error"), event
        if event["type"] == "error":
            assert event["code"] and event["message"]
    assert running.server.engine.failure is None


@FUZZ
@given(message=realtime_message() | session_update())
def test_realtime_messages_get_an_answer_or_an_error(running, message):
    with connect(f"ws://127.0.0.1:{running.port}/v1/realtime") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "session.created"
        ws.send(json.dumps(message, allow_nan=True))
        ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": "probe"}))
        while True:  # whatever the message did, the session is alive to answer the probe
            event = json.loads(ws.recv(timeout=10))
            if event["type"] == "error":
                assert event["error"]["code"] and event["error"]["message"]
            if event["type"] == "input_audio_buffer.cleared":
                break
    assert running.server.engine.failure is None


def test_a_concurrent_session_is_unharmed_by_the_fuzzing(running, tiny_pair):
    """Runs the fuzzing of both protocols again beside a session streaming speech in real time,
    which must get every frame of its speech heard, in order."""
    async def listener():
        client = await AntiphonClient.connect(f"ws://127.0.0.1:{running.port}/ws", frame_marks=True,
                                              keep_input=True)
        out, events = await stream_file(client, speech_like(3.0, 16000), tail_seconds=1.0)
        await client.close()
        return [e["input_index"] for e in events if e["type"] == "frame" and e["input_index"] is not None]
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("used", asyncio.run(listener())))
    t.start()
    test_native_messages_get_an_answer_or_an_error(running)
    test_realtime_messages_get_an_answer_or_an_error(running)
    t.join(120)
    # every frame of its speech heard once, in order (a late client's underruns, fed as silence,
    # may leave the last frames of the tail unanswered when the count of outputs is reached)
    used = result["used"]
    assert used == list(range(len(used))) and len(used) >= 75
    assert running.server.engine.failure is None
    assert running.server.metrics.session_faults._value.get() == 0
