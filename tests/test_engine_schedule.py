"""The engine keeps real time after a stall: it catches up on the backlog instead of letting every
session's input queue grow for good (found by a 10-minute soak)."""
import asyncio
import time


from client.connection import AntiphonClient
from tests.conftest import speech_like


async def test_engine_catches_up_after_a_stall(server_factory):
    srv = await server_factory()
    client = await AntiphonClient.connect(srv.url)
    session = next(iter(srv.sessions.values()))[0]
    audio = speech_like(4.0, 16000)
    n, period = client.frame_samples, client.hello["frame_ms"] / 1000
    frames = len(audio) // n

    async def drain():
        while True:
            await client.recv()

    reader = asyncio.create_task(drain())
    loop = asyncio.get_running_loop()
    start = loop.time()
    stall = None
    for i in range(frames):
        await asyncio.sleep(max(0.0, start + i * period - loop.time()))
        await client.send_audio(audio[i * n:(i + 1) * n])
        if i == 25:  # one second in, hold the engine for half a second (its loop takes this lock)
            stall = asyncio.create_task(asyncio.to_thread(_hold, srv.engine._lock, 0.5))
    await stall
    await asyncio.sleep(0.3)
    backlog = len(session.frames)
    reader.cancel()
    await client.close()
    # 12 frames piled up during the stall; the engine worked them off instead of keeping them queued.
    assert session.input_frames == frames
    assert backlog <= 2, f"{backlog} input frames still queued after the stall"
    assert session.consumed_frames >= frames - 2


def _hold(lock, seconds):
    with lock:
        time.sleep(seconds)
