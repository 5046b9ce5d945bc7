"""The real `antiphon serve` process: graceful shutdown, and recordings complete after kill -9."""
import asyncio
import json
import signal
import subprocess
import time
import urllib.request
import wave

import pytest

import numpy as np

from antiphon.client.connection import AntiphonClient, AntiphonError
from conftest import speech_like
from antiphon.harness.spawn import ServerProcess
from antiphon.common.command import antiphon_command


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


async def test_sigterm_drains_then_closes_going_away():
    srv = ServerProcess("--model", "random:tiny", "--grace", "1.5", "--threads", "1")
    try:
        assert "threads=1" in srv.lines[-1]
        assert "backends=codec:onnx,model:onnx" in srv.lines[-1]  # auto on a CPU
        c = await AntiphonClient.connect(srv.url)
        await c.send_audio(np.zeros(640, np.float32))
        assert status_of(srv.http + "/readyz") == 200
        srv.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert status_of(srv.http + "/readyz") == 503  # draining: a load balancer stops sending
        try:
            while True:
                await c.recv(timeout=10)
        except AntiphonError as e:
            assert "shutting down" in str(e)
        assert c.ws.close_code == 1001
        assert srv.proc.wait(timeout=15) == 0
        assert "shutting down" in srv.rest_of_output()
    finally:
        srv.stop()


def test_bad_thread_count_is_refused_with_what_was_expected():
    out = subprocess.run(antiphon_command("serve", "--threads", "0", "--port", "0"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--threads must be at least 1, got 0" in out.stderr


@pytest.mark.parametrize("endpoint", ["/ws", "/v1/realtime"])
async def test_recording_is_readable_and_complete_after_kill_9(tmp_path, endpoint):
    """Both channels open with Python's `wave` module (the header's sizes are kept current) and hold
    all but at most the last second; the events file ends within a second of the audio."""
    srv = ServerProcess("--model", "random:tiny", "--record", str(tmp_path))
    audio = speech_like(4.0, 16000)
    try:
        if endpoint == "/ws":
            c = await AntiphonClient.connect(srv.url)
            start = time.monotonic()
            for i in range(0, audio.size, 640):
                await c.send_audio(audio[i:i + 640])
                await asyncio.sleep(max(0, start + (i // 640 + 1) * 0.04 - time.monotonic()))
            await asyncio.sleep(0.3)
            session = c.hello["session_id"]
            srv.proc.kill()  # SIGKILL: no chance to close files
        else:
            session = await kill_during_realtime(srv, audio)
        srv.proc.wait()
    finally:
        srv.stop()
    user = next(tmp_path.glob(f"*{session}-user.wav"))
    agent = next(tmp_path.glob(f"*{session}-agent.wav"))
    for path in (user, agent):
        with wave.open(str(path)) as w:
            assert w.getframerate() == 16000 and w.getsampwidth() == 2
            seconds = w.getnframes() / 16000
        assert seconds >= 4.0 - 1.0, (path.name, seconds)  # at most the last second lost
    with wave.open(str(user)) as w:
        recorded = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    n = min(recorded.size, audio.size)
    # the user channel holds what the client sent (PCM16 rounding and resampling aside), from the first frame
    lead = np.argmax(np.abs(recorded) > 1e-3) - np.argmax(np.abs(audio) > 1e-3)
    assert abs(lead) <= 640 * 3
    assert np.corrcoef(recorded[max(lead, 0):n], audio[:n - max(lead, 0)])[0, 1] > 0.95
    events = [json.loads(line) for line in next(tmp_path.glob(f"*{session}-events.jsonl")).read_text().splitlines()]
    if endpoint == "/ws":
        assert events and all(e["type"] == "text" for e in events)
        # text events are written as they are sent: the last is within a second of the last audio
        assert events[-1]["frame"] >= int(seconds * 25) - 25, (events[-1], seconds)
    else:
        assert any(e["type"].startswith("input_audio_buffer.speech") for e in events), events[:5]


async def kill_during_realtime(srv, audio) -> str:
    """Streams `audio` to /v1/realtime in real time, kills the server while connected; the session id."""
    import base64

    import soxr
    from websockets.asyncio.client import connect

    pcm24 = soxr.resample(audio, 16000, 24000).astype(np.float32)
    async with connect(srv.url.replace("/ws", "/v1/realtime")) as ws:
        session = json.loads(await ws.recv())["session"]["id"]
        start = time.monotonic()
        for i, at in enumerate(range(0, pcm24.size, 960)):
            chunk = (np.clip(pcm24[at:at + 960], -1, 1) * 32767).astype("<i2").tobytes()
            await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                      "audio": base64.b64encode(chunk).decode()}))
            await asyncio.sleep(max(0, start + (i + 1) * 0.04 - time.monotonic()))
        await asyncio.sleep(0.3)
        srv.proc.kill()
    return session
