"""Step latency and frames per second versus batch size, and memory per slot (CPU or GPU)."""
from __future__ import annotations

import platform
import time

import torch

from . import load_model


def measure(model, batch: int, steps: int = 30) -> float:
    s = model.stream(batch)
    user = torch.zeros(batch, model.cfg.num_codebooks, dtype=torch.long)
    for _ in range(3):
        s.step(user)
    t0 = time.perf_counter()
    for _ in range(steps):
        s.step(user)
    return (time.perf_counter() - t0) / steps


def run(configs=("small", "100m"), batches=(1, 2, 4, 8, 16, 32), steps: int = 20) -> str:
    """torch and ONNX Runtime side by side in one run (on the CPU)."""
    rows = ["| config | params | batch | torch step ms | onnx step ms | torch / onnx | frames/s (faster) "
            "| real-time slots at its frame rate | cache MiB/slot |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in configs:
        model = load_model(f"random:{name}")
        onnx = load_model(f"random:{name}", backend="onnx")
        from antiphon.codec import CONFIGS as CODECS

        frame_rate = CODECS[model.codec_name.split(":", 1)[1]].frame_rate
        params = sum(p.numel() for p in model.parameters()) / 1e6
        per_slot = model.stream(1).state_nbytes() / 2**20
        for b in batches:
            dt = measure(model, b, steps)
            do = measure(onnx, b, steps)
            best = min(dt, do)
            rows.append(f"| {name} | {params:.1f}M | {b} | {dt * 1e3:.1f} | {do * 1e3:.1f} | {dt / do:.2f} "
                        f"| {b / best:.0f} | {'yes' if best < 1 / frame_rate else 'no'} ({1e3 / frame_rate:.0f} ms frames) "
                        f"| {per_slot:.2f} |")
    head = f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    return head + "\n\n" + "\n".join(rows)
