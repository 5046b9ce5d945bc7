"""The benchmark's baseline: the same model served one session at a time, a lock around a
per-session loop with batch-1 streams (how the common open-source server does it)."""
from __future__ import annotations

import threading

import numpy as np
import torch

from .engine import Engine


class SerialEngine(Engine):
    def __init__(self, codec, model, max_sessions: int, metrics=None, seed: int = 0):
        super().__init__(codec, model, max_sessions, metrics, seed)
        self._codec_streams = [codec.stream(1) for _ in range(max_sessions)]
        self._model_streams = [model.stream(1, seed=seed) for _ in range(max_sessions)]
        self._one_at_a_time = threading.Lock()

    def _apply_membership(self):
        joining = list(self._joins)
        super()._apply_membership()
        for s in joining:
            if s.slot is not None:
                self._codec_streams[s.slot].reset()
                self._model_streams[s.slot].reset()

    def tick(self):
        for i, s in enumerate(self.slots):
            if s is None:
                continue
            with self._one_at_a_time:
                frame = s.take_frame()
                pcm = np.zeros((1, 1, self.frame_size), np.float32) if frame is None else frame[None, None]
                user = self._codec_streams[i].encode(torch.from_numpy(np.ascontiguousarray(pcm)))
                agent, text = self._model_streams[i].step(user[:, :, 0])
                audio = self._codec_streams[i].decode(agent[:, :, None]).numpy()
            idx = None if frame is None else s.consumed_frames - 1
            s.loop.call_soon_threadsafe(s.deliver, audio[0, 0].copy(), int(text[0]), idx, pcm[0, 0])
        self.ticks += 1
