"""Voice-agent frameworks written elsewhere against /v1/realtime, with the bundled agent answering:
openai-agents' RealtimeRunner (it validates every server event against the SDK's GA types), and
pipecat-ai's standard OpenAI Realtime example (it stops at any error event)."""
import asyncio
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from antiphon.model.data import Voice
from antiphon.model.data.sentences import speak

RATE = 24000

PIPECAT_PYTHON = Path(__file__).resolve().parents[1] / ".venv-pipecat" / "bin" / "python"
LIVEKIT_PYTHON = Path(__file__).resolve().parents[1] / ".venv-livekit" / "bin" / "python"


def question_pcm16(text: str) -> bytes:
    speech = speak(text, Voice("en-us", "m3", 160, 50), RATE)
    pcm = np.concatenate([np.zeros(RATE // 2), speech / np.abs(speech).max() * 0.5, np.zeros(2 * RATE)])
    return (pcm * 32767).astype("<i2").tobytes()


async def test_openai_agents_realtime_runner_gets_a_spoken_answer_in_five_turns():
    pytest.importorskip("agents.realtime", reason="openai-agents is in the dev extra")
    from agents.realtime import RealtimeAgent, RealtimeRunner

    from antiphon.harness.spawn import ServerProcess

    server = ServerProcess()
    errors, audio, transcripts = [], [], []
    try:
        runner = RealtimeRunner(RealtimeAgent(name="antiphon", instructions="answer"))
        session = await runner.run(model_config={"url": f"ws://127.0.0.1:{server.port}/v1/realtime?model=antiphon",
                                                 "api_key": "x"})
        async with session:
            for text in ["what is your name", "thank you", "how are you", "goodbye", "hello"]:
                # the whole question at once: the endpoint buffers it and the engine plays it in real
                # time, so a busy client cannot leave gaps in what the model hears
                await session.send_audio(question_pcm16(text))
                got = len(audio)

                async def until_answered():
                    async for event in session:
                        if event.type == "error":
                            errors.append(event.error)
                        elif event.type == "audio":
                            audio.append(event.audio.data)
                        elif event.type == "raw_model_event" and getattr(event.data, "type", "") == "transcript_delta":
                            transcripts.append(event.data.delta)
                        elif event.type == "agent_end" and len(audio) > got:
                            return
                await asyncio.wait_for(until_answered(), 40)
    finally:
        server.stop()
    assert not errors, errors
    assert sum(len(a) for a in audio) > RATE  # more than half a second of answers came back
    said = "".join(transcripts)
    assert "antiphon" in said and "welcome" in said, said


@pytest.mark.skipif(not PIPECAT_PYTHON.exists(), reason="bash scripts/run.sh test makes .venv-pipecat")
def test_pipecat_standard_example_gets_the_answer_to_its_context_message():
    """pipecat runs in its own environment (it brings its own onnxruntime); its client script is
    tests/clients/pipecat_client.py. Its context's user message is spoken into the user channel."""
    from antiphon.harness.spawn import ServerProcess

    server = ServerProcess()
    try:
        done = subprocess.run([str(PIPECAT_PYTHON), str(Path(__file__).parent / "clients" / "pipecat_client.py"),
                               f"ws://127.0.0.1:{server.port}/v1/realtime", "what is your name"],
                              capture_output=True, text=True, timeout=150)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["responses"] == 1
    assert result["audio_bytes"] > RATE  # more than half a second of pcm16 at 24 kHz
    assert " ".join(result["text"].split()) == "my name is antiphon"


@pytest.mark.skipif(not LIVEKIT_PYTHON.exists(), reason="bash scripts/run.sh test makes .venv-livekit")
def test_livekit_agents_realtime_model_in_five_spoken_turns(tmp_path):
    """livekit-agents' OpenAI realtime model in its own environment, without a LiveKit room (none
    can run here): tests/clients/livekit_client.py pushes each question in 20 ms frames in real time
    and reads the generation livekit creates for the answer."""
    from antiphon.harness.spawn import ServerProcess

    questions = []
    for i, text in enumerate(["what is your name", "thank you", "how are you", "goodbye", "hello"]):
        questions.append(tmp_path / f"q{i}.pcm")
        questions[-1].write_bytes(question_pcm16(text))
    server = ServerProcess()
    try:
        done = subprocess.run([str(LIVEKIT_PYTHON), str(Path(__file__).parent / "clients" / "livekit_client.py"),
                               f"ws://127.0.0.1:{server.port}/v1", *map(str, questions)],
                              capture_output=True, text=True, timeout=300)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [], result
    assert len(result["turns"]) == 5 and all(t["audio_bytes"] > RATE for t in result["turns"])
    said = [" ".join(t["text"].split()) for t in result["turns"]]
    assert said[0] == "my name is antiphon" and said[1] == "you are welcome", said
