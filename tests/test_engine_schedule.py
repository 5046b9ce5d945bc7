"""The engine keeps real time after a stall: it catches up on the backlog instead of letting every
session's input queue grow for good (found by a 10-minute soak)."""
import asyncio
import time


from antiphon.client.connection import AntiphonClient
from conftest import speech_like


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


async def test_clock_starts_with_the_first_audio(server_factory):
    srv = await server_factory()
    client = await AntiphonClient.connect(srv.url)
    session = next(iter(srv.sessions.values()))[0]
    await asyncio.sleep(0.5)
    assert session.underruns == 0 and session.output_frames == 0  # no silence fed before the user speaks
    await client.send_audio(speech_like(0.4, 16000))
    for _ in range(50):
        await asyncio.sleep(0.05)
        if session.output_frames >= 10:
            break
    assert session.output_frames >= 10 and session.consumed_frames == 10
    await client.close()


def _session(frames, level, skip_quiet=True):
    import numpy as np

    from antiphon.server.session import Session

    s = Session(640, 16000, 100, asyncio.new_event_loop())
    s.skip_quiet = skip_quiet
    rng = np.random.default_rng(0)
    for _ in range(frames):
        s.push_pcm16((rng.standard_normal(640) * level * 32767).astype("<i2").tobytes())
    return s


def test_a_small_backlog_of_quiet_frames_is_skipped_speech_and_deep_queues_are_kept():
    quiet = _session(5, 0.0005)
    quiet.take_frame()
    assert (quiet.skipped_frames, quiet.consumed_frames, len(quiet.frames)) == (3, 4, 1)
    speech = _session(5, 0.1)
    speech.take_frame()
    assert (speech.skipped_frames, len(speech.frames)) == (0, 4)
    deep = _session(10, 0.0005)  # a client sending a file ahead of time
    deep.take_frame()
    assert (deep.skipped_frames, len(deep.frames)) == (0, 9)
    off = _session(5, 0.0005, skip_quiet=False)  # the Realtime endpoint's buffer
    off.take_frame()
    assert off.skipped_frames == 0
