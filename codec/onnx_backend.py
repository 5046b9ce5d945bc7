"""ONNX export of the streaming encode and decode steps (state as explicit inputs and outputs),
run with ONNX Runtime: the CUDA provider when present, the CPU provider otherwise."""
from __future__ import annotations

import copy
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from antiphon.common.atomic import write_atomically
from antiphon.common.paths import cache_root


class _StepModule(nn.Module):
    def __init__(self, step, modules: nn.Module):
        super().__init__()
        self._step = step
        self.modules_ = modules  # registered, so the tracer sees weights as parameters

    def forward(self, x, *states):
        y, new = self._step(x, list(states))
        return (y, *new)


def cache_dir() -> Path:
    return cache_root() / "onnx"


STREAM_GRAPH_VERSION = 2  # bumped whenever the streaming steps' graph or states change


def _fingerprint(runner) -> str:
    h = hashlib.sha256(f"{STREAM_GRAPH_VERSION}:{runner.num_codebooks}".encode())
    for k, v in sorted(runner.modules.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def export(torch_runner, which: str, path: Path) -> Path:
    """Export the encode or decode step to `path` (dynamic batch and time), all in float32:
    ONNX Runtime has no float64 convolution."""
    from .codec import TorchRunner

    runner = TorchRunner(copy.deepcopy(torch_runner.modules).float().cpu(), torch_runner.num_codebooks,
                         encode_dtype=torch.float32)
    program = runner.encoder if which == "encode" else runner.decoder
    hop = int(runner.modules.encoder.hop_length)
    states = program.init_states(2, "cpu")
    if which == "encode":
        x = torch.zeros(2, 1, hop * 2)
        step = runner.encode_step_fn
    else:
        x = torch.zeros(2, runner.num_codebooks, 2, dtype=torch.long)
        step = runner.decode_step_fn
    module = _StepModule(step, runner.modules)
    names_in = ["x"] + [f"state_in_{i}" for i in range(len(states))]
    names_out = ["y"] + [f"state_out_{i}" for i in range(len(states))]
    axes = {n: {0: "batch"} for n in names_in[1:] + names_out[1:]}
    axes.update({"x": {0: "batch", 2: "time"}, "y": {0: "batch", 2: "time"}})
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp):  # servers may export the same codec at once
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (x, *states), str(tmp), input_names=names_in, output_names=names_out,
                              dynamic_axes=axes, opset_version=17, dynamo=False)
    return write_atomically(path, write)


def providers(device: torch.device) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device.type == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_options():
    """ONNX Runtime options for a serving step: one non-spinning thread. A spinning thread pool takes
    the cores the event loop and the other steps need between frames (seen as p99 latency spikes)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


# Rows (slots) are independent: a batch split over threads, one single-threaded non-spinning ONNX
# call each, uses every core without the spinning pool that starves the event loop (2x on the
# decoder at 16 sessions on 2 cores: docs/benchmarks.md, "Where a tick goes").
SPLIT_MIN_ROWS = 4
_pool = None
_workers = os.cpu_count() or 1  # calls at once for one split batch (set_workers)


def set_workers(n: int) -> None:
    """How many calls at once a split batch may run: the threads the engine computes with."""
    global _workers
    _workers = max(1, int(n))


def run_split(sess, feed: dict, rows: int) -> list:
    """`sess.run` on `feed`, its rows split over up to `set_workers` calls at once
    (`ANTIPHON_ONNX_SPLIT=0`: one call, the comparison docs/benchmarks.md measures against)."""
    global _pool
    workers = min(_workers, rows // 2)
    if workers < 2 or rows < SPLIT_MIN_ROWS or os.environ.get("ANTIPHON_ONNX_SPLIT", "1") == "0":
        return sess.run(None, feed)
    if _pool is None:  # one thread per core at most; a call uses `workers` of them
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="onnx-rows")
    bounds = [rows * i // workers for i in range(workers + 1)]
    parts = [{k: v[a:b] for k, v in feed.items()} for a, b in zip(bounds, bounds[1:])]
    results = list(_pool.map(lambda part: sess.run(None, part), parts))
    return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]


class OnnxRunner:
    """Same interface as the torch runner: step(x, states) -> (y, states)."""

    def __init__(self, torch_runner, device: torch.device):
        import onnxruntime as ort

        self.device = device
        key = _fingerprint(torch_runner)
        opts = session_options()
        self._sessions = {}
        for which in ("encode", "decode"):
            path = cache_dir() / f"{key}-{which}.onnx"
            if not path.is_file():
                export(torch_runner, which, path)
            self._sessions[which] = ort.InferenceSession(str(path), opts, providers=providers(device))

    @staticmethod
    def own_states(states: list[torch.Tensor]) -> list[np.ndarray]:
        """A stream's states as the graph takes and gives them: float32 arrays, fed and kept as
        they are (the graph computes in float32, so nothing is lost against keeping tensors)."""
        return [s.cpu().float().numpy().copy() for s in states]

    def _run(self, which, x, states):
        sess = self._sessions[which]
        feed = {"x": x.cpu().numpy()}
        feed.update({f"state_in_{i}": s for i, s in enumerate(states)})
        out = run_split(sess, feed, x.shape[0])
        return torch.from_numpy(out[0]).to(self.device), out[1:]

    def encode_step(self, pcm, states):
        return self._run("encode", pcm, states)

    def decode_step(self, codes, states):
        return self._run("decode", codes, states)

