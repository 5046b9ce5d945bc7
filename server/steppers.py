"""How the engine runs one frame for its active slots: all at once (batched), or one session at a
time behind a lock (the benchmark's baseline, as the common open-source server does it). Both own
their streams, reset and configure a slot, and map input frames [n, frame] to output frames."""
from __future__ import annotations

import threading

import numpy as np
import torch


class BatchedStepper:
    def __init__(self, codec, model, max_sessions: int, seed: int = 0, context: int | None = None):
        self.num_codebooks, self.max_sessions = codec.num_codebooks, max_sessions
        self.codec_stream = codec.stream(max_sessions)
        self.model_stream = model.stream(max_sessions, context=context, seed=seed)

    def reset(self, slot: int) -> None:
        self.codec_stream.reset([slot])
        self.model_stream.reset([slot])

    def configure(self, slot: int, settings) -> None:
        self.model_stream.configure(slot, settings)

    def run(self, slots: list[int], pcm: np.ndarray, deliver) -> None:
        """pcm [n, frame] for `slots`; one `deliver` of every row's (row, agent audio [frame], text
        token, word heard or None)."""
        # the streams run on their device (CUDA, say); the engine's bookkeeping is on the CPU
        user = self.codec_stream.encode(torch.from_numpy(pcm[:, None]), slots=slots).cpu()
        user_all = torch.zeros(self.max_sessions, self.num_codebooks, dtype=torch.long)
        user_all[slots] = user[:, :, 0]
        mask = torch.zeros(self.max_sessions, dtype=torch.bool)
        mask[slots] = True
        agent, text = self.model_stream.step(user_all, mask)
        audio = self.codec_stream.decode(agent[slots][:, :, None], slots=slots).cpu().numpy()
        text = text.cpu().tolist()
        heard = self.model_stream.heard(slots)
        deliver([(row, audio[row, 0], text[i], heard[row]) for row, i in enumerate(slots)])


class SerialStepper:
    def __init__(self, codec, model, max_sessions: int, seed: int = 0, context: int | None = None):
        self._codec = [codec.stream(1) for _ in range(max_sessions)]
        self._model = [model.stream(1, context=context, seed=seed) for _ in range(max_sessions)]
        self._one_at_a_time = threading.Lock()

    def reset(self, slot: int) -> None:
        self._codec[slot].reset()
        self._model[slot].reset()

    def configure(self, slot: int, settings) -> None:
        self._model[slot].configure(0, settings)

    def run(self, slots: list[int], pcm: np.ndarray, deliver) -> None:
        """Each session's frame is sent as soon as it is done, as a per-session server would."""
        for row, i in enumerate(slots):
            with self._one_at_a_time:
                user = self._codec[i].encode(torch.from_numpy(pcm[row]).view(1, 1, -1))
                agent, token = self._model[i].step(user[:, :, 0])
                audio = self._codec[i].decode(agent[:, :, None]).numpy()
                heard = self._model[i].heard([0])[0]
            deliver([(row, audio[0, 0], int(token[0]), heard)])


STEPPERS = {"batched": BatchedStepper, "serial": SerialStepper}
