"""What the wait between ticks costs a tick: the engine's stepper as `antiphon serve` builds it
(the bundled agent, ONNX Runtime, 64 slots, rows split over the cores), timed for N sessions
with the engine thread idle for a while before each tick, as it is between served frames, for the
model's float32 and int8 weights one after the other, or (`--waits sleep,spin`) for the float32
model with the engine thread asleep and spinning on the clock through the same wait.

  OMP_WAIT_POLICY=PASSIVE python scripts/idle_cost.py [--sessions 1,8,16] [--idle-ms 0,10,30]
      [--waits sleep,spin]

Back to back, a tick finds its weights and states still in the caches; after an idle wait it
reads them again from memory (other work on the machine has taken the shared cache meanwhile), and
a core that slept may first have to wake. Spinning keeps the core awake but touches none of the
tick's data, so it tells the two apart.
Prints a markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from antiphon.server.serve import load, use_threads
from antiphon.server.steppers import BatchedStepper


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def tick_ms(stepper: BatchedStepper, n: int, frame_size: int, idle_s: float, ticks: int, wait=time.sleep) -> float:
    """Median milliseconds of one tick for slots 0..n-1, each after `wait(idle_s)`."""
    pcm = (0.05 * np.random.default_rng(0).standard_normal((n, frame_size))).astype(np.float32)
    slots = list(range(n))
    for _ in range(10):
        stepper.run(slots, pcm, lambda rows: None)
    times = []
    for _ in range(ticks):
        wait(idle_s)
        started = time.perf_counter()
        stepper.run(slots, pcm, lambda rows: None)
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", default="1,8,16")
    p.add_argument("--idle-ms", default="0,10,30")
    p.add_argument("--ticks", type=int, default=150)
    p.add_argument("--waits", help="sleep,spin: the float32 model only, the engine thread asleep or spinning")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    idles = [float(x) for x in args.idle_ms.split(",")]
    rows = {}
    runs = ([("onnx", w) for w in args.waits.split(",")] if args.waits
            else [("onnx", "sleep"), ("onnx-int8", "sleep")])
    for backend, how in runs:
        codec, model = load("bundled", None, "cpu", "auto", backend)
        use_threads(codec, model, None)
        stepper = BatchedStepper(codec, model, 64)
        wait = spin if how == "spin" else time.sleep
        for n in [int(x) for x in args.sessions.split(",")]:
            rows[(n, backend, how)] = [tick_ms(stepper, n, codec.frame_size, ms / 1000, args.ticks, wait)
                                       for ms in idles]
    print("| N | model weights | wait | " + " | ".join(f"tick after {ms:g} ms idle" for ms in idles) + " |")
    print("|---|---|---|" + "---|" * len(idles))
    for (n, backend, how), times in sorted(rows.items()):
        weights = "int8" if backend.endswith("int8") else "float32"
        print(f"| {n} | {weights} | {how} | " + " | ".join(f"{t:.2f} ms" for t in times) + " |")

if __name__ == "__main__":
    main()
