"""The batched engine: one thread, one tick per codec frame for every active session at once.

Sessions join and leave at any tick (a joining session gets reset slots). The event loop only
moves bytes; it hands frames in through thread-safe deques and gets results back through
`call_soon_threadsafe`, so a stalled client never delays anyone's tick."""
from __future__ import annotations

import threading
import traceback
import time

import numpy as np
import torch

from .tick_clock import TickClock


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
        self.clock = TickClock(self.period)
        self._stop = False
        self.failure: str | None = None  # why the engine thread died, if it did
        self.on_failure = None  # called once, from the engine thread, with `failure`
        self._thread = threading.Thread(target=self._guarded_run, name="antiphon-engine", daemon=True)

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
            if self.failure or self._taken() >= self.max_sessions:
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

    def _guarded_run(self):
        """A tick that raises (a device mismatch on a GPU, say) would otherwise end the thread in
        silence while every session waited for audio that never comes."""
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 - anything the codec or model raises ends serving
            traceback.print_exc()
            self.failure = f"{type(e).__name__}: {e}"
            if self.on_failure:
                self.on_failure(self.failure)

    def _run(self):
        torch.set_grad_enabled(False)
        while True:
            with self._lock:
                while not self._stop and not self._joins and all(s is None for s in self.slots):
                    self._wake.wait()
                    self.clock.restart()
                if self._stop:
                    return
            self._apply_membership()
            while True:
                self._input.clear()
                cause, wait = self.clock.poll(time.perf_counter(), self._inputs_ready())
                if cause:
                    break
                self._input.wait(wait)
            started = time.perf_counter()
            self.tick()
            took = time.perf_counter() - started
            if self.metrics:
                self.metrics.tick.observe(took)
                if took > self.period:
                    self.metrics.late_ticks.inc()
            self.clock.ticked(cause, started, time.perf_counter())

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
        # the streams run on their device (CUDA, say); the engine's bookkeeping is on the CPU
        user = self.codec_stream.encode(torch.from_numpy(pcm), slots=active).cpu()
        user_all = torch.zeros(self.max_sessions, self.codec.num_codebooks, dtype=torch.long)
        user_all[active] = user[:, :, 0]
        mask = torch.zeros(self.max_sessions, dtype=torch.bool)
        mask[active] = True
        agent, text = self.model_stream.step(user_all, mask)
        text = text.cpu()
        audio = self.codec_stream.decode(agent[active][:, :, None], slots=active).cpu().numpy()
        for row, i in enumerate(active):
            s = self.slots[i]
            s.loop.call_soon_threadsafe(s.deliver, audio[row, 0].copy(), int(text[i]), input_index[row],
                                        pcm[row, 0])
