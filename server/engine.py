"""The engine: one thread, one tick per codec frame for every active session at once.

The event loop talks to it through one command queue (join, leave, configure), drained at the top
of each tick, and through each session's input deque; results go back through
`call_soon_threadsafe`, so a stalled client never delays anyone's tick. Admission is counted when a
join or leave is queued, under the same lock, so the slots the engine fills never outnumber
`max_sessions` whatever the interleaving."""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
import traceback

import numpy as np
import torch

from .steppers import STEPPERS
from .tick_clock import TickClock


@dataclasses.dataclass
class OutputFrame:
    """What one tick produced for one session."""
    pcm: np.ndarray  # the agent's audio at the codec rate, float32 [frame]
    token: int  # the text token of this frame
    input_index: int | None  # the input frame it answers (None: an underrun, fed as silence)
    user_pcm: np.ndarray  # the input the engine used (silence on an underrun)
    heard: str | None = None  # the word the user finished saying on this frame (the model's word head)


class Engine:
    def __init__(self, codec, model, max_sessions: int, metrics=None, seed: int = 0, stepping: str = "batched",
                 context: int | None = None):
        self.codec, self.model, self.max_sessions = codec, model, max_sessions
        self.metrics = metrics
        self.frame_size = codec.frame_size
        self.period = codec.frame_size / codec.sample_rate
        self.stepper = STEPPERS[stepping](codec, model, max_sessions, seed, context)
        self.slots: list = [None] * max_sessions
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._commands: collections.deque = collections.deque()  # (kind, session, argument)
        self._admitted: set = set()  # sessions joined and not yet left, as the queue has them
        self._input = threading.Event()  # set by sessions when a frame arrives
        self.clock = TickClock(self.period)
        self._stop = False
        self.failure: str | None = None  # why the engine stopped serving, if it did
        self.on_failure = None  # called once, from the engine thread, with `failure`
        self._thread = threading.Thread(target=self._guarded_run, name="antiphon-engine", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        with self._lock:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=5)

    # ---- the event loop's side ----
    def free_slots(self) -> int:
        with self._lock:
            return self.max_sessions - len(self._admitted)

    def join(self, session) -> bool:
        """Reserve a slot; the session starts at the next tick. False when full or failed."""
        with self._lock:
            if self.failure or len(self._admitted) >= self.max_sessions or session in self._admitted:
                return False
            self._admitted.add(session)
            session.on_frames = self._input.set
            self._commands.append(("join", session, None))
            self._wake.notify()
            return True

    def leave(self, session) -> None:
        """The slot is freed at the next tick; leaving twice is harmless."""
        with self._lock:
            if session in self._admitted:
                self._admitted.discard(session)
                self._commands.append(("leave", session, None))
                self._wake.notify()

    def configure(self, session, settings) -> None:
        """New sampling settings for the session's slot, from the next tick on."""
        with self._lock:
            if session in self._admitted:
                self._commands.append(("configure", session, settings))

    # ---- the engine thread ----
    def _apply_commands(self):
        with self._lock:
            commands, self._commands = self._commands, collections.deque()
        for kind, s, arg in commands:
            if kind == "join":
                slot = self.slots.index(None)  # admission counted at queueing: there is one
                self.slots[slot], s.slot = s, slot
                self.stepper.reset(slot)
            elif kind == "leave" and s.slot is not None:
                self.slots[s.slot], s.slot = None, None
            elif kind == "configure" and s.slot is not None:
                try:
                    self.stepper.configure(s.slot, arg)
                except Exception as e:  # noqa: BLE001 - one session's settings end that session only
                    self._evict(s, f"its sampling settings failed: {type(e).__name__}: {e}")

    def _evict(self, session, reason: str) -> None:
        """A fault of one slot: that session is closed with 1011, the others go on."""
        traceback.print_exc()
        if self.metrics:
            self.metrics.session_faults.inc()
        if session.slot is not None:
            self.slots[session.slot], session.slot = None, None
        with self._lock:
            self._admitted.discard(session)
        session.loop.call_soon_threadsafe(session.fault, reason)

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
        """A tick that raises is not one slot's fault (the codec or model over the whole batch, the
        device lost): serving stops, every session is told why, and /healthz and /readyz say so."""
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 - anything the codec or model raises ends serving
            traceback.print_exc()
            with self._lock:
                self.failure = f"{type(e).__name__}: {e}"
            if self.on_failure:
                self.on_failure(self.failure)

    def _idle(self) -> bool:
        return not self._commands and all(s is None for s in self.slots)

    def _run(self):
        torch.set_grad_enabled(False)
        while True:
            with self._lock:
                while not self._stop and self._idle():
                    self._wake.wait()
                    self.clock.restart()
                if self._stop:
                    return
            self._apply_commands()
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
        """One frame for every active slot: encode, model step and decode, through the stepper."""
        active = [i for i, s in enumerate(self.slots) if s is not None and s.started_audio and not s.sits_out()]
        if not active:
            return
        pcm = np.empty((len(active), self.frame_size), dtype=np.float32)
        input_index = []
        for row, i in enumerate(active):
            pcm[row], index = self._next_input(self.slots[i])
            input_index.append(index)

        def deliver(rows: list[tuple[int, np.ndarray, int, str | None]]) -> None:
            # one wake-up of each event loop for all its sessions' frames, not one per session
            by_loop: dict = {}
            for row, audio, token, heard in rows:
                s = self.slots[active[row]]
                out = OutputFrame(audio.copy(), token, input_index[row], pcm[row], heard)
                by_loop.setdefault(s.loop, []).append((s, out))
            for loop, outs in by_loop.items():
                loop.call_soon_threadsafe(_receive_all, outs)
        self.stepper.run(active, pcm, deliver)


def _receive_all(outs: list) -> None:
    """On the event loop: each session's output frame of one tick (a session's failure is its own)."""
    for session, out in outs:
        session.receive_output(out)
