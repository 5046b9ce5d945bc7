"""Real-time factor of streaming encode+decode, torch vs ONNX Runtime side by side.

RTF = compute time / audio duration (below 1 is faster than real time), per batch row of audio.
"""
from __future__ import annotations

import platform
import time

import torch

from . import load_codec


def measure(codec, batch: int, frames: int = 50, chunk: int = 1) -> float:
    s = codec.stream(batch)
    pcm = torch.randn(batch, 1, chunk * codec.frame_size) * 0.1
    for _ in range(3):  # warm up
        s.decode(s.encode(pcm))
    t0 = time.perf_counter()
    for _ in range(frames // chunk):
        s.decode(s.encode(pcm))
    elapsed = time.perf_counter() - t0
    audio_seconds = frames * codec.frame_size / codec.sample_rate
    return elapsed / audio_seconds


def run(codecs=("random:encodec_24khz", "random:small"), batches=(1, 8), frames: int = 50) -> str:
    rows = ["| codec | batch | torch RTF | onnxruntime RTF | torch / onnx |", "|---|---|---|---|---|"]
    for name in codecs:
        t, o = load_codec(name), load_codec(name, backend="onnx")
        for b in batches:
            rt, ro = measure(t, b, frames), measure(o, b, frames)
            rows.append(f"| {name} ({t.frame_rate:g} Hz, {t.num_codebooks} cb) | {b} | {rt:.3f} | {ro:.3f} | {rt / ro:.2f} |")
    head = (f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}; one frame per call, {frames} frames")
    return head + "\n\n" + "\n".join(rows)


if __name__ == "__main__":
    print(run())
