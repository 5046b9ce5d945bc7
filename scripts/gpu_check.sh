#!/usr/bin/env bash
# One prepared GPU run (about 5 minutes): kernel correctness in bf16 and timings vs SDPA,
# the model step on CUDA, and the codec through ONNX Runtime's CUDA provider.
# Run from the repository root on a machine with a CUDA GPU and the project installed:
#   bash scripts/gpu_check.sh | tee gpu_check.log
set -euo pipefail
PY=${PY:-python}
$PY -m server.cli bench kernels --device cuda
$PY - <<'PY'
import time, torch
from model import load_model
for name in ("small", "100m"):
    m = load_model(f"random:{name}", device="cuda").to(torch.bfloat16)
    for B in (1, 8, 32, 128):
        s = m.stream(B)
        u = torch.zeros(B, m.cfg.num_codebooks, dtype=torch.long, device="cuda")
        for _ in range(5): s.step(u)
        torch.cuda.synchronize(); t = time.perf_counter()
        for _ in range(50): s.step(u)
        torch.cuda.synchronize()
        print(f"model {name} batch {B}: {(time.perf_counter() - t) / 50 * 1e3:.2f} ms/step")
PY
