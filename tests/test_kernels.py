"""Triton kernels match the torch reference under TRITON_INTERPRET=1 (CPU), fp32 and fp16.

The interpreter must be switched on before triton is imported, so these run in a subprocess."""
import os
import subprocess
import sys
from pathlib import Path

CHECKS = Path(__file__).with_name("kernel_checks.py")


def test_kernels_match_reference_in_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "ANTIPHON_ATTENTION": "triton"}
    r = subprocess.run([sys.executable, str(CHECKS)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all kernel checks passed" in r.stdout
