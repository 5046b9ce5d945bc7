"""Mimi, Kyutai's 24 kHz codec at 12.5 frames a second, built from transformers' `MimiModel`.

Offline encode and decode are transformers' own; streams run the same modules chunk by chunk
(mimi_streaming.py) and give exactly the offline codes. As with EnCodec, the encoder and the
quantizer run in float64 so that chunked and whole-file sums round alike.
"""
from __future__ import annotations

import torch

from .codec import CodecSeam
from .mimi_streaming import mimi_program
from .validation import check_audio, check_codes

ENCODE_DTYPE = torch.float64

# Keyword arguments of transformers' MimiConfig. "mimi" is the published architecture; "mimi-tiny"
# keeps its structure (SEANet strides, both transformers, the split quantizer) at test sizes,
# with a sliding window of 6 positions so that tests run past it in under a second of audio.
MIMI_CONFIGS: dict[str, dict] = {
    "mimi": {},
    "mimi-tiny": dict(hidden_size=32, num_filters=4, codebook_size=64, codebook_dim=16,
                      vector_quantization_hidden_dimension=16, num_quantizers=8, upsample_groups=32,
                      num_hidden_layers=2, intermediate_size=64, num_attention_heads=4, num_key_value_heads=4,
                      sliding_window=6, max_position_embeddings=4096),
}


def mimi_config(name: str):
    from transformers import MimiConfig

    if name not in MIMI_CONFIGS:
        raise ValueError(f"unknown Mimi config {name!r}; known: {sorted(MIMI_CONFIGS)}")
    return MimiConfig(**MIMI_CONFIGS[name])


def random_mimi(name: str, seed: int = 0):
    """transformers' MimiModel with seeded random weights, codebooks included (transformers
    initialises them to zero, which would make every code 0)."""
    from transformers import MimiModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MimiModel(mimi_config(name))
        for module in model.modules():
            if hasattr(module, "embed_sum") and hasattr(module, "cluster_usage"):
                module.embed_sum.normal_()  # before any use, so transformers has cached no embedding yet
    return model


def _forget_codebook_cache(model) -> None:
    for module in model.modules():
        if hasattr(module, "_embed"):
            module._embed = None  # transformers caches the embedding in the dtype of its first use


class MimiRunner:
    """One streaming encode or decode step as a pure function of (input, states)."""

    def __init__(self, model, num_codebooks: int):
        enc, dec = model.encoder, model.decoder
        self.model, self.num_codebooks = model, num_codebooks
        self.encoder = mimi_program([enc.encoder_seanet.layers, enc.encoder_transformer, enc.downsample])
        self.decoder = mimi_program([dec.upsample, dec.decoder_transformer, dec.decoder_seanet.layers])

    @torch.no_grad()
    def encode_step(self, pcm, states):
        latents, states = self.encoder(pcm.to(ENCODE_DTYPE), states)
        return self.model.quantizer.encode(latents, self.num_codebooks).transpose(0, 1), states

    @torch.no_grad()
    def decode_step(self, codes, states):
        return self.decoder(self.model.quantizer.decode(codes).float(), states)


class MimiCodec(CodecSeam):
    """The codec seam of codec.py (encode, decode, stream) over a transformers MimiModel."""

    backend = "torch"

    def __init__(self, model, num_codebooks: int | None = None, device: str | torch.device = "cpu",
                 name: str = "mimi"):
        cfg = model.config
        k = 8 if num_codebooks is None else int(num_codebooks)
        if not cfg.num_semantic_quantizers <= k <= cfg.num_quantizers:
            raise ValueError(f"num_codebooks must be in [{cfg.num_semantic_quantizers}, {cfg.num_quantizers}] "
                             f"for {name}, got {k}")
        self.name, self.device, self.num_codebooks = name, torch.device(device), k
        self.model = model.eval().to(self.device)
        self.model.encoder.to(ENCODE_DTYPE)
        self.model.quantizer.to(ENCODE_DTYPE)
        _forget_codebook_cache(self.model)
        self.sample_rate, self.frame_size = int(cfg.sampling_rate), int(cfg.frame_size)
        self.frame_rate = self.sample_rate / self.frame_size
        self.cardinality = int(cfg.codebook_size)
        self._torch = self._runner = MimiRunner(self.model, k)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav float32 [B,1,T] (T a whole number of frames) -> codes int64 [B,K,F]."""
        wav = check_audio(wav, self.frame_size).to(self.device)
        return self.model.encode(wav.to(ENCODE_DTYPE), num_quantizers=self.num_codebooks).audio_codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes int64 [B,K,F] -> wav float32 [B,1,F*frame_size]."""
        codes = check_codes(codes, self.num_codebooks, self.cardinality).to(self.device)
        return self.model.decoder(self.model.quantizer.decode(codes).float()).audio_values
