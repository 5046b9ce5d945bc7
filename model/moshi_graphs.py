"""CUDA graphs for Moshi's depth transformer.

Per frame the depth transformer makes K sequential passes of a few small matrix products each,
for all slots at once; on a GPU their kernel launches, not their arithmetic, set its time. One
graph per batch bucket (powers of two up to the stream's batch) replays the K passes and their
sampling as one launch. Sampling inside the graph is `sample_static` (no decision on the host)
drawing from the stream's own generator, which the graph registers so that replays advance it.
"""
from __future__ import annotations

import torch

from .sampling import sample_static

FIELDS = ("audio_temperature", "audio_top_k", "audio_top_p")


def bucket(n: int, most: int) -> int:
    b = 1
    while b < n:
        b *= 2
    return min(b, most)


class _Captured:
    def __init__(self, depth, batch: int, dim: int, settings: dict, generator, device, dtype):
        self.text = torch.zeros(batch, dtype=torch.long, device=device)
        self.hidden = torch.zeros(batch, dim, dtype=dtype, device=device)
        self.settings = {f: settings[f][:batch].clone() for f in FIELDS}

        def pick(j, logits):
            s = self.settings
            return sample_static(logits, s["audio_temperature"], s["audio_top_k"], s["audio_top_p"], generator)

        def run():
            return depth.generate(self.text, self.hidden, pick)

        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up outside the graph (allocations, kernel selection)
                run()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        if hasattr(self.graph, "register_generator_state"):
            self.graph.register_generator_state(generator)
        with torch.cuda.graph(self.graph):
            self.codes, self.logits = run()


class DepthGraphs:
    """A drop-in for `depth.generate` inside MoshiStream.step, on CUDA."""

    def __init__(self, stream):
        if stream.device.type != "cuda":
            raise ValueError("CUDA graphs need the stream on a CUDA device")
        self.stream, self.graphs = stream, {}

    def __call__(self, text, hidden, settings):
        n = text.shape[0]
        b = bucket(n, self.stream.batch_size)
        g = self.graphs.get(b)
        if g is None:
            s = self.stream
            g = self.graphs[b] = _Captured(s.model.lm.depth, b, hidden.shape[1], s._settings.tensors, s.generator,
                                           s.device, hidden.dtype)
        g.text[:n], g.hidden[:n] = text, hidden
        for f in FIELDS:
            g.settings[f][:n] = settings[f]
        g.graph.replay()
        return g.codes[:n], g.logits[:n]
