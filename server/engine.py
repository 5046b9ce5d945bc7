"""The batched engine: one thread, one tick per codec frame for every active session at once.

Sessions join and leave at any tick (a joining session gets reset slots). The event loop only
moves bytes; it hands frames in through thread-safe deques and gets results back through
`call_soon_threadsafe`, so a stalled client never delays anyone's tick."""
from __future__ import annotations

import threading
import time

import numpy as np
import torch


MAX_CATCH_UP_S = 2.0
# A tick runs as soon as every active session's next input frame is here, so the schedule follows
# the clients' phase instead of making each frame wait for a fixed clock (up to a whole frame:
# that wait was most of the frame latency). EARLY bounds how far ahead of the schedule that may be
# (with a backlog the engine then works at up to twice real time, never faster); LATE is how long
# a tick waits past the schedule for a missing frame before that session gets an underrun.
# The schedule follows inputs that come later at once, and inputs that come earlier by DRIFT a tick,
# so that a message carrying two frames cannot pull the clock ahead of the next message.
EARLY = 0.5
LATE = 0.25
DRIFT = 0.025


class Engine:
    def __init__(self, codec, model, max_sessions: int, metrics=None, seed: int = 0):
        self.codec, self.model, self.max_sessions = codec, model, max_sessions
        self.metrics = metrics
        self.frame_size = codec.frame_size
        self.period = codec.frame_size / codec.sample_rate
        self.codec_stream = codec.stream(max_sessions)
        self.model_stream = model.stream(max_sessions, seed=seed)
        self.slots: list = [None] * max_sessions
        self._lock = threading.Lock()
        self._joins: list = []
        self._leaves: list = []
        self._wake = threading.Condition(self._lock)
        self._input = threading.Event()  # set by sessions when a frame arrives
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="antiphon-engine", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        with self._lock:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _taken(self) -> int:
        """Slots in use once pending joins and leaves apply; the caller holds the lock."""
        return sum(s is not None for s in self.slots) + len(self._joins) - len(self._leaves)

    def free_slots(self) -> int:
        with self._lock:
            return self.max_sessions - self._taken()

    def join(self, session) -> bool:
        """Reserve a slot; the session starts at the next tick. False when full."""
        with self._lock:
            if self._taken() >= self.max_sessions:
                return False
            self._joins.append(session)
            session.on_frames = self._input.set
            self._wake.notify()
            return True

    def leave(self, session) -> None:
        """The slot is freed at the next tick."""
        with self._lock:
            if session in self._joins:
                self._joins.remove(session)
            elif session.slot is not None:
                self._leaves.append(session)

    def _apply_membership(self):
        with self._lock:
            leaves, joins = self._leaves, self._joins
            self._leaves, self._joins = [], []
        for s in leaves:
            if s.slot is not None and self.slots[s.slot] is s:
                self.slots[s.slot] = None
            s.slot = None
        for s in joins:
            slot = self.slots.index(None)
            self.slots[slot] = s
            s.slot = slot
            self._reset_slot(slot)
        for s in self.slots:
            if s is not None and s.sampling_dirty:  # settings may arrive just after the join
                s.sampling_dirty = False
                self._configure_slot(s.slot, s.sampling)

    def _reset_slot(self, slot: int) -> None:
        self.codec_stream.reset([slot])
        self.model_stream.reset([slot])

    def _configure_slot(self, slot: int, settings) -> None:
        self.model_stream.configure(slot, settings)

    def _next_input(self, session) -> tuple[np.ndarray, int | None]:
        """The session's next input frame and its index, or silence and None on an underrun."""
        frame = session.take_frame()
        if frame is None:
            if self.metrics:
                self.metrics.underruns.inc()
            return np.zeros(self.frame_size, dtype=np.float32), None
        return frame, session.consumed_frames - 1

    def _inputs_ready(self) -> bool:
        return all(s.frames for s in self.slots if s is not None and s.started_audio)

    def _wait_for_tick(self, scheduled: float) -> str:
        """Sleep until every input is ready (not before scheduled - EARLY periods) or until
        scheduled + LATE periods. Returns "ready" (inputs were there), "arrived" (the tick waited past
        its schedule for an input that then came) or "clock" (an input is missing: underrun)."""
        earliest, deadline = scheduled - EARLY * self.period, scheduled + LATE * self.period
        waited_past_schedule = False
        while True:
            self._input.clear()
            now = time.perf_counter()
            if now >= earliest and self._inputs_ready():
                return "arrived" if waited_past_schedule else "ready"
            if now >= deadline:
                return "clock"
            waited_past_schedule = now >= scheduled
            self._input.wait((earliest if now < earliest else deadline) - now)

    def _run(self):
        torch.set_grad_enabled(False)
        scheduled = None
        while True:
            with self._lock:
                while not self._stop and not self._joins and all(s is None for s in self.slots):
                    self._wake.wait()
                    scheduled = None
                if self._stop:
                    return
            self._apply_membership()
            if scheduled is None:
                scheduled = time.perf_counter()
            cause = self._wait_for_tick(scheduled)
            started = time.perf_counter()
            self.tick()
            took = time.perf_counter() - started
            if self.metrics:
                self.metrics.tick.observe(took)
                if took > self.period:
                    self.metrics.late_ticks.inc()
            # Otherwise keep the schedule: after a stall the inputs are ready and the ticks run back to
            # back until the engine is on time again, or every session's input would queue up for good
            # (a 10-minute soak lost 31 ticks this way and ended with 1.6 s of latency). Only beyond
            # the input buffer (MAX_CATCH_UP_S) is the schedule restarted: that audio is dropped anyway.
            if cause == "arrived":
                scheduled = started
            elif cause == "ready" and started < scheduled:
                scheduled -= min(scheduled - started, DRIFT * self.period)
            scheduled += self.period
            if time.perf_counter() - scheduled > MAX_CATCH_UP_S:
                scheduled = time.perf_counter()

    def tick(self):
        """One frame for every active slot: batched encode, model step, batched decode."""
        active = [i for i, s in enumerate(self.slots) if s is not None and s.started_audio]
        if not active:
            return
        pcm = np.empty((len(active), 1, self.frame_size), dtype=np.float32)
        input_index = []
        for row, i in enumerate(active):
            pcm[row, 0], index = self._next_input(self.slots[i])
            input_index.append(index)
        user = self.codec_stream.encode(torch.from_numpy(pcm), slots=active)
        user_all = torch.zeros(self.max_sessions, self.codec.num_codebooks, dtype=torch.long)
        user_all[active] = user[:, :, 0]
        mask = torch.zeros(self.max_sessions, dtype=torch.bool)
        mask[active] = True
        agent, text = self.model_stream.step(user_all, mask)
        audio = self.codec_stream.decode(agent[active][:, :, None], slots=active).numpy()
        for row, i in enumerate(active):
            s = self.slots[i]
            s.loop.call_soon_threadsafe(s.deliver, audio[row, 0].copy(), int(text[i]), input_index[row],
                                        pcm[row, 0])
