"""The GPU path of Moshi, as far as a CPU can run it: the prepared script end to end with tiny
shapes, and the sampler the CUDA graphs use, which must draw exactly as the engine's own."""
import json
import subprocess
import sys
from pathlib import Path

import torch

from antiphon.model.sampling import sample, sample_static

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_moshi.py"


def test_gpu_script_runs_on_the_cpu_with_tiny_shapes(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--model", "random:moshi-tiny",
                    "--sessions", "1,3", "--frames", "3", "--out", str(tmp_path)], check=True, capture_output=True,
                   timeout=300)
    result = json.loads((tmp_path / "moshi.json").read_text())
    assert [lv["sessions"] for lv in result["levels"]] == [1, 3]
    assert all(lv["batched"]["p99_ms"] >= lv["batched"]["p50_ms"] > 0 for lv in result["levels"])
    assert result["serial"][0]["sessions"] == 1 and result["frame_ms"] == 80
    table = (tmp_path / "moshi.md").read_text()
    assert table.startswith("| sessions |") and "One session at a time" in table


def test_graph_sampler_draws_as_the_engine_sampler():
    logits = torch.randn(4, 2, 50, generator=torch.Generator().manual_seed(0))
    temperature = torch.tensor([0.0, 0.8, 1.0, 0.5])
    top_p = torch.tensor([1.0, 0.9, 1.0, 0.7])  # per-slot top-p: the engine's sorted path too
    top_k = torch.tensor([0, 10, 50, 3])
    a = sample(logits, temperature, top_k, top_p, torch.Generator().manual_seed(1))
    b = sample_static(logits, temperature, top_k, top_p, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert torch.equal(a[0], logits[0].argmax(-1))  # temperature 0 is greedy
    assert all(int(t) in logits[3, i].topk(3).indices for i, t in enumerate(a[3]))
