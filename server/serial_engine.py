"""The benchmark's baseline: the same model served one session at a time, a lock around a
per-session loop with batch-1 streams (how the common open-source server does it)."""
from __future__ import annotations

import threading

import torch

from .engine import Engine


class SerialEngine(Engine):
    def __init__(self, codec, model, max_sessions: int, metrics=None, seed: int = 0):
        super().__init__(codec, model, max_sessions, metrics, seed)
        self._codec_streams = [codec.stream(1) for _ in range(max_sessions)]
        self._model_streams = [model.stream(1, seed=seed) for _ in range(max_sessions)]
        self._one_at_a_time = threading.Lock()

    def _reset_slot(self, slot: int) -> None:
        self._codec_streams[slot].reset()
        self._model_streams[slot].reset()

    def _configure_slot(self, slot: int, settings) -> None:
        self._model_streams[slot].configure(0, settings)

    def tick(self):
        for i, s in enumerate(self.slots):
            if s is None or not s.started_audio:  # a session's clock starts with its first audio
                continue
            frame, index = self._next_input(s)
            with self._one_at_a_time:
                user = self._codec_streams[i].encode(torch.from_numpy(frame).view(1, 1, -1))
                agent, text = self._model_streams[i].step(user[:, :, 0])
                audio = self._codec_streams[i].decode(agent[:, :, None]).numpy()
            s.loop.call_soon_threadsafe(s.deliver, audio[0, 0].copy(), int(text[0]), index, frame)
