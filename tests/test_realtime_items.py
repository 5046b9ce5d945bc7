"""Realtime conversation items with the official `openai` client: a user text item is spoken into
the user channel and answered after response.create; audio items are heard; items can be retrieved
and deleted; GA clients get GA event names only, every event valid against the SDK's types, usage
in response.done and transcript deltas by whole words."""
import asyncio
import base64
import typing

import numpy as np
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent

from test_realtime import RATE, until

def _event_names(union) -> set[str]:
    """Every `type` the SDK's GA server-event union admits."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return {name for model in typing.get_args(union)
            for name in typing.get_args(model.model_fields["type"].annotation)}


GA_EVENTS = _event_names(RealtimeServerEvent)
BETA_ONLY = {"conversation.item.created", "response.audio.delta", "response.audio.done",
             "response.audio_transcript.delta", "response.audio_transcript.done"}


def connect(port):
    client = AsyncOpenAI(api_key="x", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
    return client.realtime.connect(model="antiphon")


async def collect_until(conn, kind, seen, timeout=30):
    return await until(conn, kind, timeout=timeout, seen=seen)


async def test_items_created_retrieved_and_deleted_with_ga_events(server_factory):
    srv = await server_factory()
    seen = []
    async with connect(srv.port) as conn:
        await until(conn, "session.created")
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await collect_until(conn, "session.updated", seen)
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "what is your name"}]})
        added = await collect_until(conn, "conversation.item.added", seen)
        done = await collect_until(conn, "conversation.item.done", seen)
        assert added.item.id == done.item.id and added.item.role == "user"
        assert added.item.content[0].type == "input_text" and added.item.content[0].text == "what is your name"
        session = next(s for s, _ in srv.sessions.values())
        assert session.input_frames >= 20  # about a second of speech went into the user channel
        await conn.response.create()
        response = (await collect_until(conn, "response.created", seen)).response
        assistant = await collect_until(conn, "conversation.item.added", seen)
        assert assistant.previous_item_id == added.item.id and assistant.item.role == "assistant"
        await collect_until(conn, "response.output_audio.delta", seen)
        await conn.response.cancel()
        finished = await collect_until(conn, "response.done", seen)
        assert finished.response.id == response.id
        usage = finished.response.usage
        assert usage.output_token_details.audio_tokens > 0 and usage.input_tokens > 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        assert any(e.type == "conversation.item.done" and e.item.id == assistant.item.id for e in seen)

        pcm = (0.2 * np.sin(2 * np.pi * 220 * np.arange(RATE // 2) / RATE) * 32767).astype("<i2").tobytes()
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_audio", "audio": base64.b64encode(pcm).decode()}]})
        audio_item = (await collect_until(conn, "conversation.item.added", seen)).item
        assert audio_item.content[0].type == "input_audio"
        await conn.conversation.item.retrieve(item_id=added.item.id)
        assert (await collect_until(conn, "conversation.item.retrieved", seen)).item.id == added.item.id
        await conn.conversation.item.delete(item_id=added.item.id)
        assert (await collect_until(conn, "conversation.item.deleted", seen)).item_id == added.item.id
        await conn.conversation.item.retrieve(item_id=added.item.id)
        assert (await collect_until(conn, "error", seen)).error.code == "item_not_found"
        await conn.conversation.item.create(item={"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "hi"}]})
        assert (await collect_until(conn, "error", seen)).error.code == "unsupported_item"
    names = {e.type for e in seen}
    assert names <= GA_EVENTS and not names & BETA_ONLY, names - GA_EVENTS


async def test_transcript_deltas_are_whole_words(server_factory):
    srv = await server_factory()
    seen = []
    async with connect(srv.port) as conn:
        await until(conn, "session.created")
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "count to five"}]})
        await conn.response.create()
        for _ in range(60):  # the random agent babbles bytes: words, as far as spaces go
            await collect_until(conn, "response.output_audio.delta", seen)
        await conn.response.cancel()
        await collect_until(conn, "response.done", seen)
    deltas = [e.delta for e in seen if e.type == "response.output_audio_transcript.delta"]
    assert deltas and all(d.endswith(" ") for d in deltas[:-1])
    assert all(" " not in d.rstrip(" ") for d in deltas)  # one word each


async def test_the_bundled_agent_answers_a_text_item_and_a_late_push_to_talk_commit(tmp_path):
    """A text item, then spoken audio committed 3 s after the speech ended (push-to-talk let go
    late): each response holds the answer, though the model began it before the response opened."""
    from antiphon.harness.spawn import ServerProcess
    from antiphon.model.data.sentences import speak
    from antiphon.model.data import Voice

    speech = speak("thank you", Voice("en-us", "m3", 160, 50), RATE)
    pcm = (np.concatenate([np.zeros(RATE // 2), speech / np.abs(speech).max() * 0.5, np.zeros(3 * RATE)])
           * 32767).astype("<i2").tobytes()
    server = ServerProcess()
    try:
        async with connect(server.port) as conn:
            await until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
            await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": "what is your name"}]})
            await until(conn, "conversation.item.done")
            await asyncio.sleep(1.5)  # the answer may begin before the response opens: none of it is lost
            await conn.response.create()
            first = await until(conn, "response.done", timeout=30)
            for i in range(0, len(pcm), 9600):  # in real time: 0.2 s per append
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + 9600]).decode())
                await asyncio.sleep(0.2)
            await conn.input_audio_buffer.commit()
            await conn.response.create()
            second = await until(conn, "response.done", timeout=30)
    finally:
        server.stop()
    assert first.response.output[0].content[0].transcript.strip() == "my name is antiphon"
    assert second.response.output[0].content[0].transcript.strip() == "you are welcome"
