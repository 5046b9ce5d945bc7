"""The model's one-frame step exported to ONNX and run with ONNX Runtime.

Why: at serving batch sizes the torch step is a few hundred small ops, and on a small CPU their
dispatch costs more than the matmuls (the small model: ~19 ms a step at any batch from 1 to 8 on
a 2-core machine). ONNX Runtime runs the same graph with far less per-op overhead.

The graph takes the ring cache as it is before this frame is written and returns this frame's
keys and values; the ring write stays in torch (`RingCache.write_all`). Attention is over the
cache entries strictly before this position plus this frame's own key, which is what the torch
step sees after its write, without copying the cache inside the graph.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
from torch import nn

from antiphon.codec.onnx_backend import cache_dir, run_split, session_options
from antiphon.kernels import reference

from .transformer import rotary
from antiphon.common.atomic import write_atomically

GRAPH_VERSION = 4  # bump when the exported graph changes, so cached exports are not reused


def _rms_norm(norm, x):
    # Written out: the TorchScript exporter has no rms_norm at opset 17.
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight


class _StepGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens, pos, cache_pos, cos, sin, *kv):
        m, cfg = self.model, self.model.cfg
        x = m.embed_tokens(tokens)
        ks, vs, words = [], [], []
        read = m.word_head.block(cfg.layers) if m.word_head is not None else -1
        for i, block in enumerate(m.blocks):
            q, k, v = block.attn._qkv(_rms_norm(block.attn_norm, x), cos, sin)
            y = reference.decode_before_write(q, k, v, kv[i], kv[cfg.layers + i], cache_pos, pos, cfg.context)
            x = x + block.attn.wo(y.flatten(1))
            x = x + block.mlp(_rms_norm(block.mlp_norm, x))
            ks.append(k)
            vs.append(v)
            if i == read:
                words.append(m.word_head.mlp(_rms_norm(m.word_head.norm, x)))
        h = _rms_norm(m.norm, x)
        audio = m.audio_head(h).view(-1, cfg.num_codebooks, cfg.cardinality)
        return m.text_head(h), audio, torch.stack(ks, 1), torch.stack(vs, 1), *words


def _fingerprint(model) -> str:
    h = hashlib.sha256(f"{GRAPH_VERSION}:{sorted(model.cfg.to_dict().items())}".encode())
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def export(model, path: Path) -> Path:
    cfg = model.cfg
    B, C, L = 2, cfg.context, cfg.layers
    cache = torch.zeros(B, cfg.kv_heads, C, cfg.head_dim)
    tokens = torch.zeros(B, 1 + 2 * cfg.num_codebooks, dtype=torch.long)
    pos = torch.zeros(B, dtype=torch.long)
    cos, sin = rotary(pos, cfg.head_dim, cfg.rope_base)
    cache_pos = torch.full((B, C), -1, dtype=torch.long)
    kv_names = [f"k{i}" for i in range(L)] + [f"v{i}" for i in range(L)]
    names_in = ["tokens", "pos", "cache_pos", "cos", "sin", *kv_names]
    names_out = ["text_logits", "audio_logits", "k_new", "v_new"] + (["word_logits"] if model.word_head else [])
    axes = {n: {0: "batch"} for n in names_in + names_out}
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = _StepGraph(model).float().cpu().eval()

    def write(tmp):
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (tokens, pos, cache_pos, cos, sin, *[cache] * (2 * L)), str(tmp),
                              input_names=names_in, output_names=names_out, dynamic_axes=axes,
                              opset_version=17, dynamo=False)
    return write_atomically(path, write)


def quantize(path: Path, out: Path) -> Path:
    """The graph with int8 weights for its matmuls: ONNX Runtime's MatMulNBits, 8-bit weights in
    blocks of 32 along the input, each row's activations quantized on their own (accuracy level 4).
    Per-tensor dynamic quantization (`quantize_dynamic`) would give the whole batch one activation
    scale, so one session's logits would move with what the others in its tick said."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    def write(tmp):
        q = MatMulNBitsQuantizer(onnx.load(str(path)), bits=8, block_size=32, is_symmetric=True, accuracy_level=4)
        q.process()
        q.model.save_model_to_file(str(tmp), use_external_data_format=False)
    return write_atomically(out, write)


class OnnxStep:
    """`step(tokens, cache)` with the same contract as `SpeechTransformer.step` (CPU only);
    `int8` runs the graph with int8 weights."""

    def __init__(self, model, int8: bool = False):
        import onnxruntime as ort

        if next(model.parameters()).device.type != "cpu":
            raise ValueError("the ONNX model step runs on the CPU; use the torch step (with Triton) on CUDA")
        self.cfg = model.cfg
        path = cache_dir() / f"model-{_fingerprint(model)}.onnx"
        if not path.is_file():
            export(model, path)
        if int8:
            float_path, path = path, path.with_name(path.stem + "-w8.onnx")
            if not path.is_file():
                quantize(float_path, path)
        self.session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])

    def __call__(self, tokens, cache):
        cfg = self.cfg
        cos, sin = rotary(cache.pos, cfg.head_dim, cfg.rope_base)
        # The graph wants the ring before this frame's write: begin_step has already put this
        # position into pos_of_entry, which the graph excludes (it attends to keys strictly before).
        feed = {"tokens": tokens.numpy(), "pos": cache.pos.numpy(), "cache_pos": cache.pos_of_entry.numpy(),
                "cos": cos.numpy(), "sin": sin.numpy()}
        for i in range(cfg.layers):
            feed[f"k{i}"] = cache.k[i].float().numpy()
            feed[f"v{i}"] = cache.v[i].float().numpy()
        text, audio, k_new, v_new, *words = run_split(self.session, feed, tokens.shape[0])  # rows over the cores
        cache.write_all(torch.from_numpy(k_new), torch.from_numpy(v_new))
        return torch.from_numpy(text), torch.from_numpy(audio), torch.from_numpy(words[0]) if words else None
