"""The user's input transcription on /v1/realtime: words go to the item whose audio they end in,
deltas follow the commit, `.completed` comes when no more words can come, every event valid
against the SDK's GA types; and the bundled agent transcribes a spoken question end to end."""
import asyncio
import base64

import numpy as np
import pytest
from pydantic import TypeAdapter
from openai.types.realtime import RealtimeServerEvent

from antiphon.model import BUNDLED
from antiphon.server.realtime_transcription import LAG, InputTranscription

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)


def test_words_belong_to_the_item_they_end_in_and_complete_after_the_lag():
    sent = []
    done = {}
    t = InputTranscription(sent.append, 0.04, lambda item, text: done.__setitem__(item, text))
    t.heard(5, "what")
    t.heard(9, "time")
    assert sent == [], "no delta before the item is committed"
    t.commit("item_a", 10, transcribed=True)  # audio up to frame 10
    assert [e["delta"] for e in sent] == ["what", " time"]
    t.heard(10 + LAG - 1, "is")  # named just after the end: still this item's
    t.heard(10 + LAG, "hello")  # the next buffer's
    t.answered(10 + LAG - 2)
    assert not any(e["type"].endswith(".completed") for e in sent)
    t.answered(10 + LAG - 1)
    completed = [e for e in sent if e["type"].endswith(".completed")]
    assert len(completed) == 1 and completed[0]["transcript"] == "what time is"
    assert completed[0]["usage"] == {"type": "duration", "seconds": 0.4}
    assert done == {"item_a": "what time is"}
    t.commit("item_b", 30, transcribed=False)  # a client that did not ask for transcription
    t.heard(31, "unheard")
    t.answered(40)
    assert len(sent) == 4 and "item_b" not in done
    for event in sent:
        SERVER_EVENT.validate_python({**event, "event_id": "event_1"})


@pytest.mark.skipif(not (BUNDLED / "lm").is_dir(), reason="no bundled model in this checkout")
async def test_the_bundled_agent_transcribes_a_spoken_question():
    """A held-out voice asks a question with server VAD and transcription on: the item's transcript,
    streamed by word and kept in the conversation, names most of its words."""
    from openai import AsyncOpenAI

    from antiphon.harness.spawn import ServerProcess
    from antiphon.model.data import Voice
    from antiphon.model.data.sentences import speak
    from test_realtime import RATE, until

    question = "what is seven plus five"
    speech = speak(question, Voice("en-gb", "m3", 150, 50), RATE)
    pcm = (np.concatenate([np.zeros(RATE // 2), speech / np.abs(speech).max() * 0.5, np.zeros(2 * RATE)])
           * 32767).astype("<i2").tobytes()
    server = ServerProcess()
    seen = []
    try:
        client = AsyncOpenAI(api_key="x", websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")
        async with client.realtime.connect(model="antiphon") as conn:
            await until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "audio": {"input": {
                "transcription": {"model": "whisper-1"}}}})
            for i in range(0, len(pcm), 4800):  # in real time: 0.1 s per append
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + 4800]).decode())
                await asyncio.sleep(0.1)
            completed = await until(conn, "conversation.item.input_audio_transcription.completed", timeout=30,
                                    seen=seen)
            await conn.send({"type": "conversation.item.retrieve", "item_id": completed.item_id})
            kept = await until(conn, "conversation.item.retrieved", timeout=10)
    finally:
        server.stop()
    deltas = [e.delta for e in seen if e.type == "conversation.item.input_audio_transcription.delta"
              and e.item_id == completed.item_id]
    assert "".join(deltas) == completed.transcript
    assert kept.item.content[0].transcript == completed.transcript
    named = completed.transcript.split()
    assert sum(w in named for w in question.split()) >= 3, completed.transcript



def test_a_realtime_slot_sits_out_a_few_empty_ticks_then_runs_on_silence():
    """Appends come in bursts: an empty queue at a tick holds the slot (no silence fed into its
    words) for HOLD_TICKS ticks, then the slot runs on silence so the agent still answers."""
    import asyncio as aio

    from antiphon.server.realtime_session import HOLD_TICKS, RealtimeSession
    from antiphon.server.session import Session

    loop = aio.new_event_loop()
    try:
        session = Session(640, 16000, 100, loop)
        plain = Session(640, 16000, 100, loop)
        RealtimeSession(session, model_name="m", beta=False)
        assert [session.sits_out() for _ in range(HOLD_TICKS + 2)] == [True] * HOLD_TICKS + [False] * 2
        assert not any(plain.sits_out() for _ in range(3)), "/ws slots run every tick, as its protocol says"
        session.push_pcm16(bytes(2 * 24000 // 5))  # 200 ms at the Realtime rate arrives
        assert [session.sits_out() for _ in range(2)] == [False, False]
        while session.take_frame() is not None:  # the engine takes what came
            pass
        assert session.sits_out(), "the count starts again after audio came"
    finally:
        loop.close()
