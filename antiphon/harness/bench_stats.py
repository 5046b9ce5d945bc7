"""The benchmark's arithmetic, separate from I/O so it can be tested on synthetic timelines."""
from __future__ import annotations

import numpy as np


def percentiles(values, qs=(50, 95, 99)) -> dict:
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return {f"p{q}": None for q in qs} | {"max": None}
    return {f"p{q}": float(np.percentile(v, q)) for q in qs} | {"max": float(v.max())}


def frame_latencies(sent_at: dict[int, float], marks: list[tuple[float, int | None]]) -> list[float]:
    """sent_at: input frame index -> time its last byte was sent; marks: (receive time, input index
    of that output frame). Latency of every output frame that was computed from a sent frame."""
    return [t - sent_at[i] for t, i in marks if i is not None and i in sent_at]


def response_latency(utterance_end: float, outputs: list[tuple[float, float]], threshold: float,
                     until: float | None = None) -> float | None:
    """outputs: (receive time, frame RMS). Time from the end of the user's utterance to the first
    output frame above `threshold` received after it (None if the agent stayed silent)."""
    for t, rms in outputs:
        if t >= utterance_end and (until is None or t < until) and rms > threshold:
            return t - utterance_end
    return None


def is_realtime(late_fraction: float, p99_frame_latency: float | None, frame_seconds: float) -> bool:
    """Real time holds while at most 1% of ticks are late and p99 frame latency stays within two frames."""
    return late_fraction <= 0.01 and p99_frame_latency is not None and p99_frame_latency <= 2 * frame_seconds


def max_realtime(records: list[dict]) -> int:
    """The largest N of the sweep that held real time (0 if none did)."""
    held = [r["sessions"] for r in records if r["realtime"]]
    return max(held) if held else 0
