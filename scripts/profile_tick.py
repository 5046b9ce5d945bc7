"""Where one engine tick goes, for the bundled agent as `antiphon serve` runs it on a CPU (ONNX
Runtime backends): codec encode, the model step, sampling, codec decode and delivery to the
sessions, each timed at several batch sizes, with the arithmetic each does (counted on the torch
path by torch's FLOP counter) and so its achieved FLOP/s, against this machine's measured peak (a
large float32 matmul in the same run).

  python scripts/profile_tick.py [--sessions 1,4,8,16] [--frames 200]

Prints a markdown table for docs/benchmarks.md, with the ONNX calls' rows split over the cores (as
served) and, in the same run, each stage in one call.
"""
from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from antiphon.codec import onnx_backend
from antiphon.model.sampling import sample
from antiphon.server.engine import OutputFrame
from antiphon.server.serve import MODEL_BACKENDS, load, use_threads
from antiphon.server.session import Session


def timed(fn, frames: int) -> float:
    """Median milliseconds of fn() over `frames` calls, after a warm-up."""
    for _ in range(10):
        fn()
    out = []
    for _ in range(frames):
        t = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t))
    return float(np.median(out))


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def peak_gflops() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    ms = timed(lambda: a @ b, 20)
    return 2 * 2048 ** 3 / (ms / 1000) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", default="1,4,8,16")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--model-backend", default="auto", choices=MODEL_BACKENDS, help="as for antiphon serve")
    args = p.parse_args()
    codec, model = load("bundled", None, "cpu", "auto", args.model_backend)
    torch_codec, torch_model = load("bundled", None, "cpu", "torch", "torch")  # the same math, countable
    peak = peak_gflops()
    print(f"peak: {peak:.1f} GFLOP/s (2048x2048 float32 matmul, {torch.get_num_threads()} threads)")
    use_threads(codec, model, None)  # as served: the split ONNX calls get the cores, torch's glue one thread
    loop = asyncio.new_event_loop()
    print("| N | stage | ms per tick | MFLOP per tick | GFLOP/s | % of peak |")
    print("|---|---|---|---|---|---|")
    ticks = {}
    for n in [int(x) for x in args.sessions.split(",")]:
        split = onnx_backend.SPLIT_MIN_ROWS
        onnx_backend.SPLIT_MIN_ROWS = 1 << 30  # each ONNX call whole: the comparison
        whole = profile(n, codec, torch_codec, model, torch_model, args.frames, peak, loop, show=False)
        onnx_backend.SPLIT_MIN_ROWS = split
        ticks[n] = (profile(n, codec, torch_codec, model, torch_model, args.frames, peak, loop, show=True), whole)
    print()
    print("| N | tick, rows split over the cores | tick, one call per stage | ratio |")
    print("|---|---|---|---|")
    for n, (split, whole) in ticks.items():
        print(f"| {n} | {split:.2f} ms | {whole:.2f} ms | {whole / split:.2f} |")


def profile(n, codec, torch_codec, model, torch_model, frames, peak, loop, show: bool) -> float:
    """Times each stage for n sessions (a table row each when `show`); returns the tick's ms."""
    rng = np.random.default_rng(0)
    pcm = torch.from_numpy((0.1 * rng.standard_normal((n, 1, codec.frame_size))).astype(np.float32))
    cs, ms = codec.stream(n), model.stream(n)
    tcs, tms = torch_codec.stream(n), torch_model.stream(n)
    codes = cs.encode(pcm)
    agent = torch.zeros(n, codec.num_codebooks, 1, dtype=torch.long)
    ms.step(codes[:, :, 0])
    logits = ms.last_logits  # (text, audio) of the last step, for timing sampling alone
    settings = [torch.full((n,), v) for v in (0.8, 250, 1.0)]
    sessions = [Session(codec.frame_size, codec.sample_rate, 64, loop) for _ in range(n)]
    out = OutputFrame(np.zeros(codec.frame_size, np.float32), 256, 0, np.zeros(codec.frame_size, np.float32))
    stages = {
        "codec encode": (lambda: cs.encode(pcm), lambda: tcs.encode(pcm)),
        "model step (incl. sampling)": (lambda: ms.step(codes[:, :, 0]), lambda: tms.step(codes[:, :, 0])),
        "sampling": (lambda: sample(logits[1], settings[0], settings[1].long(), settings[2], None), None),
        "codec decode": (lambda: cs.decode(agent), lambda: tcs.decode(agent)),
        "delivery (PCM16, outbox)": (lambda: [s.deliver(out) for s in sessions], None),
    }
    total = 0.0
    for name, (run, count) in stages.items():
        t = timed(run, frames)
        if name != "sampling":  # the model step includes it
            total += t
        if not show:
            continue
        f = flops(count) / 1e6 if count else 0.0
        rate = f / 1e3 / (t / 1000)
        print(f"| {n} | {name} | {t:.2f} | {f:.1f} | {rate:.1f} | {100 * rate / peak:.1f}% |" if f else
              f"| {n} | {name} | {t:.2f} | - | - | - |")
    if show:
        print(f"| {n} | **tick (encode + step + decode + delivery)** | **{total:.2f}** | | | |")
    return total


if __name__ == "__main__":
    main()
