"""Admission is atomic: however joins and leaves interleave across threads, the engine never fills
more slots than max_sessions, never loses a leave, and never fails (a burst once killed it with
"None is not in list")."""
import asyncio
import random
import threading
import time

from antiphon.server.engine import Engine
from antiphon.server.session import Session


def test_join_leave_storm_from_many_threads_keeps_the_slot_count(tiny_pair):
    codec, model = tiny_pair
    engine = Engine(codec, model, max_sessions=4)
    engine.start()
    loop = asyncio.new_event_loop()
    sessions = [Session(codec.frame_size, codec.sample_rate, 10, loop) for _ in range(40)]
    violations, admitted_total = [], [0]
    stop = threading.Event()

    def watch():  # the engine's own slots, read from outside while the storm runs
        while not stop.is_set():
            taken = sum(s is not None for s in list(engine.slots))
            if taken > engine.max_sessions or engine.free_slots() < 0:
                violations.append((taken, engine.free_slots()))
            time.sleep(0.0005)

    def storm(seed):
        rng = random.Random(seed)
        mine = sessions[seed * 5:(seed + 1) * 5]
        for _ in range(300):
            s = rng.choice(mine)
            if rng.random() < 0.5:
                if engine.join(s):
                    admitted_total[0] += 1
            else:
                engine.leave(s)
            if rng.random() < 0.1:
                time.sleep(0.0002)  # let ticks apply the queue between bursts

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=storm, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in sessions:
        engine.leave(s)
    deadline = time.monotonic() + 10
    while any(s is not None for s in engine.slots) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    watcher.join()
    engine.stop()
    loop.close()
    assert engine.failure is None
    assert admitted_total[0] > 40  # the storm really admitted and freed slots many times over
    assert not violations, violations[:5]
    assert all(s is None for s in engine.slots), "a leave was lost: a slot leaked"
    assert engine.free_slots() == 4 and all(s.slot is None for s in sessions)
