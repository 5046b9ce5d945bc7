"""The codec seam: offline encode/decode and batched streams with per-slot state."""
from __future__ import annotations

import torch

from .architecture import CodecConfig, CodecModules, fold_weight_norm
from .streaming import StreamProgram
from .validation import check_audio, check_codes, check_slots


# The encoder and quantizer run in float64: convolutions over chunks of different lengths sum in
# different orders, and in float32 those ~1e-7 differences flip near-tie codebook choices, so a
# stream would not give exactly the offline codes. In float64 the differences (~1e-16) vanish
# when the embedding is compared; it costs about 1.4x the float32 encoder time on the CPU.
ENCODE_DTYPE = torch.float64


class TorchRunner:
    """One streaming encode or decode step as a pure function of (input, states)."""

    def __init__(self, modules: CodecModules, num_codebooks: int, encode_dtype=ENCODE_DTYPE):
        self.modules = modules
        self.num_codebooks = num_codebooks
        self.encode_dtype = encode_dtype
        self.encoder = StreamProgram(modules.encoder)
        self.decoder = StreamProgram(modules.decoder)

    def encode_step_fn(self, pcm, states):
        emb, states = self.encoder(pcm.to(self.encode_dtype), states)
        codes = self.modules.quantizer.vq.encode(emb, n_q=self.num_codebooks).transpose(0, 1)
        return codes, states

    def decode_step_fn(self, codes, states):
        emb = self.modules.quantizer.decode(codes.transpose(0, 1))
        return self.decoder(emb.float(), states)

    @torch.no_grad()
    def encode_step(self, pcm, states):
        return self.encode_step_fn(pcm, states)

    @torch.no_grad()
    def decode_step(self, codes, states):
        return self.decode_step_fn(codes, states)


class CodecSeam:
    """What every codec offers besides encode and decode: its bit rate and batched streams."""

    @property
    def bandwidth_kbps(self) -> float:
        return self.num_codebooks * self.frame_rate * (self.cardinality - 1).bit_length() / 1000

    def stream(self, batch_size: int = 1) -> "CodecStream":
        return CodecStream(self, batch_size)


class Codec(CodecSeam):
    def __init__(self, config: CodecConfig, modules: CodecModules, num_codebooks: int | None = None,
                 device: str | torch.device = "cpu", backend: str = "torch", name: str | None = None):
        k = config.num_codebooks if num_codebooks is None else int(num_codebooks)
        if not 1 <= k <= config.max_codebooks:
            raise ValueError(f"num_codebooks must be in [1, {config.max_codebooks}] for {config.name}, got {k}")
        self.config = config
        self.name = name or config.name
        self.device = torch.device(device)
        self.modules = modules.eval().to(self.device)
        fold_weight_norm(self.modules)
        self.modules.encoder.to(ENCODE_DTYPE)
        self.modules.quantizer.to(ENCODE_DTYPE)
        self.num_codebooks = k
        self.backend = backend
        self._torch = TorchRunner(self.modules, k)
        self._runner = self._torch
        if backend == "onnx":
            from .onnx_backend import OnnxRunner
            self._runner = OnnxRunner(self._torch, device=self.device)
        elif backend != "torch":
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")

    sample_rate = property(lambda self: self.config.sample_rate)
    frame_size = property(lambda self: self.config.frame_size)
    frame_rate = property(lambda self: self.config.frame_rate)
    cardinality = property(lambda self: self.config.cardinality)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav float32 [B,1,T] (T a whole number of frames) -> codes int64 [B,K,F]."""
        wav = check_audio(wav, self.frame_size).to(self.device)
        emb = self.modules.encoder(wav.to(ENCODE_DTYPE))
        return self.modules.quantizer.vq.encode(emb, n_q=self.num_codebooks).transpose(0, 1)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes int64 [B,K,F] -> wav float32 [B,1,F*frame_size]."""
        codes = check_codes(codes, self.num_codebooks, self.cardinality).to(self.device)
        return self.modules.decoder(self.modules.quantizer.decode(codes.transpose(0, 1)).float())

class CodecStream:
    """B independent streams in one batched call. `slots` restricts a call to some rows
    (the others keep their state), so an engine can skip empty slots."""

    def __init__(self, codec: Codec, batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.codec, self.batch_size = codec, batch_size
        runner = codec._runner
        self._runner = runner
        dev = codec.device
        # the runner keeps states in its own form (ONNX Runtime's: float32 arrays, no conversion per call)
        own = getattr(runner, "own_states", lambda states: states)
        self._enc = own(codec._torch.encoder.init_states(batch_size, dev, ENCODE_DTYPE))
        self._dec = own(codec._torch.decoder.init_states(batch_size, dev))
        self._numpy = not isinstance(self._enc[0], torch.Tensor)

    def _index(self, slots):
        idx = check_slots(slots, self.batch_size).to(self.codec.device)
        return idx.numpy() if self._numpy else idx

    def _run(self, step, x, states, slots):
        if slots is None:
            y, new = step(x, states)
            states[:] = new if self._numpy else [s.clone() for s in new]
            return y
        idx = self._index(slots)
        if len(idx) != x.shape[0]:
            raise ValueError(f"got {x.shape[0]} rows for {len(idx)} slots")
        y, new = step(x, [s[idx] for s in states])
        for s, n in zip(states, new):
            s[idx] = n
        return y

    def encode(self, pcm: torch.Tensor, slots=None) -> torch.Tensor:
        """[B,1,n*frame_size] -> [B,K,n]; the same codes as offline encode."""
        rows = self.batch_size if slots is None else len(slots)
        pcm = check_audio(pcm, self.codec.frame_size, batch=rows).to(self.codec.device)
        return self._run(self._runner.encode_step, pcm, self._enc, slots)

    def decode(self, codes: torch.Tensor, slots=None) -> torch.Tensor:
        """[B,K,n] -> [B,1,n*frame_size]; the same audio as offline decode."""
        rows = self.batch_size if slots is None else len(slots)
        c = self.codec
        codes = check_codes(codes, c.num_codebooks, c.cardinality, batch=rows).to(c.device)
        return self._run(self._runner.decode_step, codes, self._dec, slots)

    def reset(self, slots=None) -> None:
        """A reset slot behaves exactly like a fresh stream."""
        idx = slice(None) if slots is None else self._index(slots)
        for s in self._enc + self._dec:
            s[idx] = 0
