"""One session driven frame by frame in real time, with the agent's output recorded against the input
frame it was computed from: the evaluation's questions and its barge-in trials are both this."""
from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Awaitable, Callable

import numpy as np

from antiphon.model.data import UtteranceMaker, Voice

from antiphon.client.connection import AntiphonClient, pcm16_to_float
from antiphon.client.pacing import send_frames
from antiphon.common.audio import frame_rms

LEAD_S, TAIL_S = 0.6, 4.0  # silence before the user first speaks, and time left for an answer
LEVEL = 0.3  # the peak of every spoken question
STEADY_AHEAD = 12  # frames a steady client sends ahead of real time (within the server's 2 s buffer)


async def gathered(count: int, parallel: int, job: Callable[[int], Awaitable]) -> list:
    """`await job(i)` for i in range(count), at most `parallel` at once; the results in order."""
    gate = asyncio.Semaphore(parallel)

    async def one(i):
        async with gate:
            return await job(i)
    return list(await asyncio.gather(*(one(i) for i in range(count))))


def spoken(maker: UtteranceMaker, text: str, voice: Voice, rng: random.Random) -> np.ndarray:
    """A user's words in `voice`, peak-normalised, as the evaluation plays them."""
    pcm, _ = maker.user_utterance(text, voice, rng)
    return (pcm / max(float(np.abs(pcm).max()), 1e-6) * LEVEL).astype(np.float32)


@dataclasses.dataclass
class Recording:
    rate: int
    frame: int  # samples per frame
    period: float  # seconds per frame
    sent: int = 0  # input frames sent
    sent_at: dict[int, float] = dataclasses.field(default_factory=dict)
    out: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)  # input index -> agent audio
    arrivals: list[tuple[float, int]] = dataclasses.field(default_factory=list)
    text: list[tuple[int, str]] = dataclasses.field(default_factory=list)  # (latest input index, text)
    user_words: list[str] = dataclasses.field(default_factory=list)  # the words the model heard (user_text)

    def agent(self) -> np.ndarray:
        """The agent's audio aligned with the input, silence where no output came."""
        silent = np.zeros(self.frame, np.float32)
        return np.concatenate([self.out.get(i, silent) for i in range(self.sent)] or [silent[:0]])

    def rms(self) -> np.ndarray:
        return np.array([frame_rms(self.out[i]) if i in self.out else 0.0 for i in range(self.sent)])

    def said(self, start: int = -1, end: int | None = None) -> str:
        """The agent's text that came while input frames in [start, end) were being answered."""
        return "".join(t for i, t in self.text if i >= start and (end is None or i < end))


def framed(audio: np.ndarray, i: int, n: int) -> np.ndarray | None:
    """Frame i of `audio` (the last one zero-padded), None past its end."""
    part = audio[i * n:(i + 1) * n]
    return None if not len(part) else np.pad(part, (0, n - len(part)))


async def converse(url: str, next_frame: Callable[[int, int], np.ndarray | None], sampling: dict | None = None,
                   on_output: Callable[[int, np.ndarray], None] | None = None, steady: bool = False) -> Recording:
    """Send `next_frame(i, samples_per_frame)` at frame i's time until it gives None, and record
    what the agent says. `next_frame` is asked at the moment frame i is due, so it can react to
    the output so far (`on_output(input index, pcm)` sees each frame as it comes).

    `steady`: the model hears exactly the frames given, whatever the machine's speed: the server
    keeps every input frame, and the client stays STEADY_AHEAD frames ahead of real time, so that
    a client late by less than that never leaves the engine an underrun (fed as silence). Timing
    figures then include that lead; tests of what the agent says use it, latency figures do not."""
    client = await AntiphonClient.connect(url, frame_marks=True, sampling=sampling, keep_input=steady)
    ahead = STEADY_AHEAD if steady else 0
    rec = Recording(client.sample_rate, client.frame_samples, client.hello["frame_ms"] / 1000)
    loop = asyncio.get_running_loop()

    def sent(i, t):
        rec.sent_at[i], rec.sent = t, i + 1

    async def send():
        await send_frames(client, lambda i: next_frame(i, rec.frame), ahead=ahead, on_sent=sent)

    task = asyncio.create_task(send())
    index, latest = None, -1
    drained = False  # an underrun after the last frame was sent: the server has taken all the input
    try:
        # The server may skip a backlog of quiet frames (docs/protocol.md), so the last frame's
        # output need not come; an underrun after the sending ends says the input is all consumed.
        while not (task.done() and ((rec.out and max(rec.out) >= rec.sent - 1) or drained)):
            msg = await client.recv(timeout=10)
            if isinstance(msg, dict):
                if msg.get("type") == "frame":
                    index = msg["input_index"]
                    latest = latest if index is None else index
                    drained = index is None and task.done()
                elif msg.get("type") == "text":
                    rec.text.append((latest, msg["text"]))
                elif msg.get("type") == "user_text":
                    rec.user_words.append(msg["text"])
                continue
            if index is not None:
                rec.out[index] = pcm16_to_float(msg)
                rec.arrivals.append((loop.time(), index))
                if on_output:
                    on_output(index, rec.out[index])
            index = None
        await task
    finally:
        task.cancel()
        await client.close()
    return rec
