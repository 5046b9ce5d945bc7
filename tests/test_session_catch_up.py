"""A session whose server fell behind gets back to its target latency by skipping quiet input;
a client that sends ahead of real time on purpose (a file) keeps every frame. Once 49 frames sat
queued for the rest of a session (2 s of latency) because skipping stopped above 6."""
import time

import numpy as np

from antiphon.server.session import TARGET_QUEUE, Session

N = 640


def queued_session(pattern: str, sent_over_seconds: float) -> Session:
    """A session holding one frame per letter of `pattern` (q: quiet, s: speech), as if its client
    had sent them over the last `sent_over_seconds`."""
    s = Session(N, 16000, 100, loop=None)
    rng = np.random.default_rng(0)
    frames = [(0.3 if c == "s" else 0.0005) * rng.standard_normal(N) for c in pattern]
    s.push_pcm16(b"".join((f * 32767).astype("<i2").tobytes() for f in frames))
    s.first_audio_at = time.monotonic() - sent_over_seconds
    return s


def drain(s: Session) -> list[float]:
    taken = []
    while (f := s.take_frame()) is not None:
        taken.append(float(np.abs(f).max()))
        if len(s.frames) < TARGET_QUEUE:
            break
    return taken


def test_a_session_that_fell_behind_skips_quiet_frames_back_to_its_target():
    pattern = ("q" * 5 + "s" * 2) * 7  # 49 frames the server did not keep up with
    s = queued_session(pattern, sent_over_seconds=49 * 0.04)
    taken = drain(s)
    speech = pattern.count("s")
    assert sum(t > 0.05 for t in taken) >= speech - TARGET_QUEUE  # speech is never skipped
    assert len(s.frames) < TARGET_QUEUE + 1
    assert s.skipped_frames >= pattern.count("q") - TARGET_QUEUE - 1
    assert s.stats()["skipped_frames"] == s.skipped_frames  # and the client is told


def test_a_client_sending_ahead_of_real_time_keeps_every_frame():
    pattern = ("q" * 5 + "s" * 2) * 7
    s = queued_session(pattern, sent_over_seconds=0.1)  # 49 frames in 0.1 s: a file, sent ahead
    taken = []
    while (f := s.take_frame()) is not None:
        taken.append(f)
    assert len(taken) == 49 and s.skipped_frames == 0


def test_keep_input_keeps_every_frame_even_behind():
    s = queued_session("qqqqqs" * 8, sent_over_seconds=48 * 0.04)
    s.skip_quiet = False
    n = 0
    while s.take_frame() is not None:
        n += 1
    assert n == 48 and s.skipped_frames == 0
