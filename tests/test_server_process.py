"""The real `antiphon serve` process: graceful shutdown, and recordings complete after kill -9."""
import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import soundfile as sf

from client.connection import AntiphonClient, AntiphonError
from tests.conftest import speech_like
from client.spawn import ServerProcess


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
    out = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--threads", "0", "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--threads must be at least 1, got 0" in out.stderr


async def test_recording_is_complete_after_kill_9(tmp_path):
    srv = ServerProcess("--model", "random:tiny", "--record", str(tmp_path))
    try:
        c = await AntiphonClient.connect(srv.url)
        audio = speech_like(3.0, 16000)
        start = time.monotonic()
        for i in range(0, audio.size, 640):
            await c.send_audio(audio[i:i + 640])
            await asyncio.sleep(max(0, start + (i // 640 + 1) * 0.04 - time.monotonic()))
        await asyncio.sleep(0.3)
        srv.proc.kill()  # SIGKILL: no chance to close files
        srv.proc.wait()
        session = c.hello["session_id"]
    finally:
        srv.stop()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert any(session in f and f.endswith("-user.wav") for f in files), files
    user = next(tmp_path.glob(f"*{session}-user.wav"))
    agent = next(tmp_path.glob(f"*{session}-agent.wav"))
    assert next(tmp_path.glob(f"*{session}-events.jsonl")).exists()
    for wav in (user, agent):
        info = sf.info(str(wav))
        assert info.samplerate == 16000
        assert info.duration >= 3.0 - 1.0 - 0.2, (wav.name, info.duration)  # at most the last second lost
    recorded, _ = sf.read(str(user), dtype="float32")
    n = min(recorded.size, audio.size)
    # the user channel holds what the client sent (PCM16 rounding aside), aligned from the first frame
    lead = np.argmax(np.abs(recorded) > 1e-3) - np.argmax(np.abs(audio) > 1e-3)
    assert abs(lead) <= 640 * 3
    assert np.corrcoef(recorded[max(lead, 0):n], audio[:n - max(lead, 0)])[0, 1] > 0.99
    for line in next(tmp_path.glob(f"*{session}-events.jsonl")).read_text().splitlines():
        assert json.loads(line)["type"] == "text"
