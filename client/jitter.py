"""Playback jitter buffer: starts after a threshold, counts underruns, never blocks the producer."""
from __future__ import annotations

import collections
import threading

import numpy as np


class JitterBuffer:
    def __init__(self, start_samples: int):
        self.start_samples = start_samples
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._size = 0
        self._lock = threading.Lock()
        self.playing = False
        self.underruns = 0

    def push(self, samples: np.ndarray) -> None:
        with self._lock:
            self._chunks.append(samples)
            self._size += samples.size
            if not self.playing and self._size >= self.start_samples:
                self.playing = True

    def flush(self) -> None:
        """Drop what is queued (the agent was interrupted)."""
        with self._lock:
            self._chunks.clear()
            self._size = 0
            self.playing = False

    @property
    def depth(self) -> int:
        return self._size

    def pull(self, n: int) -> np.ndarray:
        """n samples for the speaker; silence before the start threshold or on an underrun."""
        out = np.zeros(n, dtype=np.float32)
        with self._lock:
            if not self.playing:
                return out
            filled = 0
            while filled < n and self._chunks:
                c = self._chunks[0]
                take = min(n - filled, c.size)
                out[filled:filled + take] = c[:take]
                filled += take
                if take == c.size:
                    self._chunks.popleft()
                else:
                    self._chunks[0] = c[take:]
            self._size -= filled
            if filled < n:
                self.underruns += 1
                self.playing = False  # wait for the threshold again rather than crackle
        return out
