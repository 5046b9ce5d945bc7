#!/usr/bin/env bash
# One prepared GPU run (70 s on an H200, Triton compiles included): kernel correctness in bf16 and timings vs SDPA, the CPU
# kernel checks again on CUDA tensors (compiled Triton, not the interpreter), and the model's
# streaming step on CUDA with the Triton kernels beside torch's attention, side by side.
# Run from the repository root on a machine with a CUDA GPU and the project's model/kernels importable:
#   bash scripts/gpu_check.sh | tee gpu_check.log
# Each part reports its own failure and the rest still run (a short GPU run should report everything it can).
set -uo pipefail
PY=${PY:-python}
status=0
part() { echo; echo "== $1"; shift; "$@" || { echo "== FAILED (exit $?)"; status=1; }; }

part "kernels: bf16 correctness and timings vs SDPA" \
  $PY -c "import sys; from kernels import bench; sys.exit(bench.main(device='cuda'))"
part "kernel checks (tests/kernel_checks.py) on CUDA tensors" \
  $PY -c "import runpy, torch; torch.set_default_device('cuda'); runpy.run_path('tests/kernel_checks.py', run_name='__main__')"
part "model streaming step, Triton vs torch attention" $PY - <<'PY'
import os, time, torch
from antiphon.model import load_model

def ms_per_step(m, B, backend):
    os.environ["ANTIPHON_ATTENTION"] = backend
    s = m.stream(B)
    u = torch.zeros(B, m.cfg.num_codebooks, dtype=torch.long, device="cuda")
    for _ in range(5):
        s.step(u)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(50):
        s.step(u)
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / 50 * 1e3

print("| model | dtype | batch | triton ms/step | torch ms/step | torch/triton |")
print("|---|---|---|---|---|---|")
for name in ("bundled", "random:100m"):
    for dtype in (torch.float16, torch.bfloat16):
        m = load_model(name, device="cuda").to(dtype)
        for B in (1, 8, 32, 128):
            tr, to = ms_per_step(m, B, "triton"), ms_per_step(m, B, "torch")
            print(f"| {name} | {str(dtype)[6:]} | {B} | {tr:.2f} | {to:.2f} | {to / tr:.2f} |", flush=True)
PY
exit $status
