"""Moshi served batched, against one session at a time, in one run.

For each number of sessions N, the engine's whole frame for N sessions at once (Mimi encode, the
temporal step, the depth transformer's K passes, Mimi decode), as the batched engine runs it,
with the depth transformer eager and under CUDA graphs; then the one-session-at-a-time baseline
(a lock around each session's frame, as Moshi's own server runs) until it is no longer real time.
A level is real time when its p99 frame time is at most one frame plus 10 ms.

  python scripts/gpu_moshi.py --out DIR                      # random:moshi-7b, bf16, on CUDA
  python scripts/gpu_moshi.py --device cpu --model random:moshi-tiny --sessions 1,2 --frames 3 --out DIR

Writes DIR/moshi.json and DIR/moshi.md (the table for docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from antiphon.server.serve import load
from antiphon.server.steppers import BatchedStepper, SerialStepper


def timed_ticks(stepper, n: int, frame_size: int, frames: int, device: str) -> list[float]:
    rng = np.random.default_rng(0)
    slots = list(range(n))
    out = []
    for i in range(frames + 2):  # two warm-up frames (and graph capture) first
        pcm = (0.1 * rng.standard_normal((n, frame_size))).astype(np.float32)
        start = time.perf_counter()
        stepper.run(slots, pcm, lambda rows: None)  # the stepper copies results to the host
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            out.append(1000 * (time.perf_counter() - start))
    return out


def summary(ms: list[float], frame_ms: float) -> dict:
    p99 = float(np.percentile(ms, 99))
    return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(p99, 2), "real_time": p99 <= frame_ms + 10}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="random:moshi-7b")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--sessions", default="1,16,32,48,64,72")
    p.add_argument("--frames", type=int, default=40, help="timed frames per level")
    p.add_argument("--context", type=int, default=None, help="frames of attention (default: the model's, 3000)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    codec, model = load(args.model, None, args.device)
    frame_ms = 1000 * codec.frame_size / codec.sample_rate
    rows, results = [], {"model": model.name, "codec": codec.name, "device": args.device, "frame_ms": frame_ms,
                         "dtype": str(next(model.parameters()).dtype), "levels": []}
    if args.device == "cuda":
        results["gpu"] = torch.cuda.get_device_name()
    for n in [int(x) for x in args.sessions.split(",")]:
        level = {"sessions": n}
        for graphs in ([False, True] if args.device == "cuda" else [False]):
            try:
                stepper = BatchedStepper(codec, model, n)
                if args.context:
                    stepper.model_stream = model.stream(n, context=args.context)
                if graphs:
                    stepper.model_stream.use_cuda_graphs()
                key = "batched_graphs" if graphs else "batched"
                level[key] = summary(timed_ticks(stepper, n, codec.frame_size, args.frames, args.device), frame_ms)
                level["state_mb_per_session"] = round(stepper.model_stream.state_nbytes() / n / 2**20, 2)
            except torch.cuda.OutOfMemoryError:
                level["batched_graphs" if graphs else "batched"] = {"error": "out of memory"}
            del stepper
            if args.device == "cuda":
                torch.cuda.empty_cache()
        results["levels"].append(level)
        print(json.dumps(level), flush=True)
    serial = []
    for n in range(1, 9):  # one session at a time: the baseline's capacity
        ms = timed_ticks(SerialStepper(codec, model, n), n, codec.frame_size, max(5, args.frames // 4), args.device)
        serial.append({"sessions": n, **summary(ms, frame_ms)})
        print(json.dumps({"serial": serial[-1]}), flush=True)
        if not serial[-1]["real_time"]:
            break
    results["serial"] = serial
    best = max([lv["sessions"] for lv in results["levels"]
                if any(lv.get(k, {}).get("real_time") for k in ("batched", "batched_graphs"))], default=0)
    results["max_real_time"] = {"batched": best, "serial": max([s["sessions"] for s in serial if s["real_time"]], default=0)}
    (out / "moshi.json").write_text(json.dumps(results, indent=2))
    rows.append("| sessions | batched p50 / p99 ms | depth under CUDA graphs p50 / p99 ms | state per session |")
    rows.append("|---|---|---|---|")

    def cell(lv, k):
        if k in lv and "p50_ms" in lv[k]:
            return f"{lv[k]['p50_ms']} / {lv[k]['p99_ms']}{'' if lv[k]['real_time'] else ' (late)'}"
        return lv.get(k, {}).get("error", "-")

    for lv in results["levels"]:
        rows.append(f"| {lv['sessions']} | {cell(lv, 'batched')} | {cell(lv, 'batched_graphs')} | "
                    f"{lv.get('state_mb_per_session', '-')} MB |")
    rows.append("")
    serial_text = ", ".join(f"{s['sessions']}: p99 {s['p99_ms']} ms" for s in serial)
    rows.append(f"One session at a time: real time up to {results['max_real_time']['serial']} sessions "
                f"({serial_text}); batched: "
                f"{results['max_real_time']['batched']} sessions. {model.name} ({results['dtype']}) over "
                f"{codec.name}, {frame_ms:g} ms frames, {results.get('gpu', args.device)}.")
    (out / "moshi.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
