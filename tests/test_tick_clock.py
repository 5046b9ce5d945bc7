"""The engine's tick clock on synthetic timelines (simulated time: the real engine asks the same
object with time.perf_counter()). One session; a tick takes `work` seconds and uses one frame."""
import math

from antiphon.server.tick_clock import TickClock

P = 0.04


def simulate(arrivals, until, work=0.01, stall=None):
    """arrivals: times at which a frame is queued. stall: (at, seconds) the engine is held once.
    Returns [(tick start, cause, arrival time of the frame used or None)]."""
    clock, queue, i, now, ticks = TickClock(P), [], 0, 0.0, []
    while now < until:
        while i < len(arrivals) and arrivals[i] <= now + 1e-12:
            queue.append(arrivals[i])
            i += 1
        cause, wait = clock.poll(now, bool(queue))
        if cause is None:
            now = min(now + wait, arrivals[i] if i < len(arrivals) else math.inf)
            continue
        started = now
        ticks.append((started, cause, queue.pop(0) if queue else None))
        now += work
        if stall and stall[0] <= started:
            now += stall[1]
            stall = None
        clock.ticked(cause, started, now)
    return ticks


def test_one_frame_per_message_is_taken_as_it_arrives_whatever_the_phase():
    for phase in (0.003, 0.017, 0.031):
        arrivals = [phase + 0.001 + k * P for k in range(100)]
        ticks = simulate(arrivals, until=4.0)
        steady = [t for t in ticks if 1.0 < t[0] < 3.9]
        assert all(used is not None for _, _, used in steady), "no underruns"
        assert max(start - used for start, _, used in steady) < 0.002, phase  # no wait for a fixed clock


def test_two_frames_per_message_never_underrun():
    arrivals = [t for k in range(50) for t in (0.011 + 2 * k * P,) * 2]
    ticks = simulate(arrivals, until=4.0)
    steady = [t for t in ticks if 0.5 < t[0] < 3.9]
    assert all(used is not None for _, _, used in steady)
    # the second frame of a message waits at most one frame
    assert max(start - used for start, _, used in steady) < P + 0.002


def test_a_missing_client_gets_underruns_on_schedule():
    ticks = simulate([0.0], until=2.0)
    starts = [t[0] for t in ticks[1:]]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(c == "clock" and used is None for _, c, used in ticks[1:])
    assert max(abs(g - P) for g in gaps) < 1e-9  # the engine neither hangs nor spins


def test_a_stall_is_worked_off():
    arrivals = [0.005 + k * P for k in range(150)]
    ticks = simulate(arrivals, until=6.0, stall=(1.0, 0.5))
    backlog = [(start, start - used) for start, _, used in ticks if used is not None]
    assert max(w for _, w in backlog) > 0.45  # the stall queued about 12 frames
    assert all(w < 0.002 for s, w in backlog if s > 2.5), "back to taking frames as they arrive"
    # never faster than twice real time, even with the backlog
    starts = [t[0] for t in ticks]
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.01 - 1e-9
    assert len([s for s in starts if 1.6 < s < 2.4]) <= 2 * 0.8 / P + 1
