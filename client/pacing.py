"""Sending audio on the clock: the one real-time sender that `talk`, the benchmark, the evaluation
and the barge-in trials share."""
from __future__ import annotations

import asyncio
from typing import Callable

import numpy as np


async def send_frames(client, next_frame: Callable[[int], np.ndarray | None], *, realtime: bool = True,
                      ahead: int = 0, start: float | None = None,
                      on_sent: Callable[[int, float], None] | None = None) -> int:
    """Send `next_frame(i)` for i = 0, 1, ... until it gives None: frame i at `start` + (i - ahead)
    frame periods (`start`: now; `ahead`: frames sent before their time), or as fast as the
    connection takes them when not `realtime`. `next_frame` is asked when frame i is due, so it can
    react to what has come back. `on_sent(i, time)` after each. Returns how many were sent."""
    loop = asyncio.get_running_loop()
    period = client.hello["frame_ms"] / 1000
    start = loop.time() if start is None else start
    i = 0
    while True:
        if realtime:
            await asyncio.sleep(max(0.0, start + (i - ahead) * period - loop.time()))
        frame = next_frame(i)
        if frame is None:
            return i
        await client.send_audio(frame)
        if on_sent:
            on_sent(i, loop.time())
        i += 1
