"""Codec architectures, assembled from the `encodec` package's own modules.

Every convolution is causal and zero-padded on the left.  The published EnCodec pads by
reflection, which needs samples that a stream has not received yet at its very first frames;
zero padding (as Moshi's Mimi does) is what makes chunked streaming exactly equal to offline
coding.  With the pretrained weights this only changes the first few milliseconds of a stream.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import torch
from torch import nn

# encodec builds its convolutions with torch's deprecated weight_norm: not ours to fix, and it
# would print on every start.
warnings.filterwarnings("ignore", message=".*torch.nn.utils.weight_norm.*is deprecated", category=FutureWarning)

from encodec import modules as encodec_modules  # noqa: E402
from encodec import quantization as encodec_quantization  # noqa: E402


def checked_fields(cls, d: dict, what: str) -> dict:
    """`d` checked against the dataclass `cls` (a config read from a checkpoint): unknown or
    missing fields raise a ValueError naming them."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    required = {f.name for f in fields if f.default is dataclasses.MISSING}
    unknown, missing = sorted(set(d) - names), sorted(required - set(d))
    if unknown or missing:
        raise ValueError(f"{what}: unknown fields {unknown}, missing fields {missing}; expected {sorted(names)}")
    return d


@dataclasses.dataclass(frozen=True)
class CodecConfig:
    name: str
    sample_rate: int
    ratios: tuple[int, ...]  # decoder order, as encodec takes them
    n_filters: int
    dimension: int
    lstm_layers: int
    max_codebooks: int
    cardinality: int
    num_codebooks: int  # how many codebooks are used by default
    n_residual_layers: int = 1
    # The decoder's own width (None: n_filters). In serving the decoder only voices the agent, and a
    # wider one there is what lets the judge hear answers the 16-filter one blurs (docs/history.md).
    decoder_filters: int | None = None

    @property
    def frame_size(self) -> int:
        return math.prod(self.ratios)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.frame_size

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["ratios"] = list(self.ratios)
        if d["decoder_filters"] is None:  # checkpoints of one width read as they always did
            del d["decoder_filters"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CodecConfig":
        d = checked_fields(cls, d, "codec config")
        return cls(**{**d, "ratios": tuple(d["ratios"])})


CONFIGS: dict[str, CodecConfig] = {
    # The published 24 kHz EnCodec: 75 frames/s, up to 32 codebooks of 1024 (24 kbps);
    # 8 codebooks (6 kbps) by default.
    "encodec_24khz": CodecConfig(
        name="encodec_24khz", sample_rate=24000, ratios=(8, 5, 4, 2), n_filters=32, dimension=128,
        lstm_layers=2, max_codebooks=32, cardinality=1024, num_codebooks=8),
    # The project's own small speech codec: 16 kHz, 25 frames/s (40 ms), few filters.
    "small": CodecConfig(
        name="small", sample_rate=16000, ratios=(8, 5, 4, 4), n_filters=16, dimension=64,
        lstm_layers=1, max_codebooks=8, cardinality=256, num_codebooks=4),
    # Smaller still, for fast tests.
    "tiny": CodecConfig(
        name="tiny", sample_rate=16000, ratios=(8, 5, 4, 4), n_filters=4, dimension=16,
        lstm_layers=1, max_codebooks=4, cardinality=64, num_codebooks=2),
}

# The official file name of the pretrained 24 kHz weights (what encodec's loader looks for).
PRETRAINED_FILES = {"encodec_24khz": "encodec_24khz-d7cc33bc.th"}


class CodecModules(nn.Module):
    """Encoder, decoder and quantizer under the attribute names of encodec's EncodecModel, so
    that the published state dict loads as is."""

    def __init__(self, config: CodecConfig, kmeans_init: bool):
        super().__init__()
        common = dict(channels=1, dimension=config.dimension,
                      n_residual_layers=config.n_residual_layers, ratios=list(config.ratios),
                      norm="weight_norm", causal=True, pad_mode="constant", lstm=config.lstm_layers)
        self.encoder = encodec_modules.SEANetEncoder(n_filters=config.n_filters, **common)
        self.decoder = encodec_modules.SEANetDecoder(n_filters=config.decoder_filters or config.n_filters, **common)
        self.quantizer = encodec_quantization.ResidualVectorQuantizer(
            dimension=config.dimension, n_q=config.max_codebooks, bins=config.cardinality,
            kmeans_init=kmeans_init)


def build_modules(config: CodecConfig, seed: int | None = 0, kmeans_init: bool = False) -> CodecModules:
    """Seeded random weights. `kmeans_init=True` leaves the codebooks for k-means to initialise
    on the first training batch (encodec's own recipe); False gives usable random codebooks."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        modules = CodecModules(config, kmeans_init=kmeans_init)
        if not kmeans_init:
            _spread_codebooks(modules, config)
        return modules


@torch.no_grad()
def _spread_codebooks(modules: CodecModules, config: CodecConfig) -> None:
    """Random codebooks drawn from the random encoder's own outputs, residual by residual, so a
    random codec uses many codes, as a trained one does. Each level is drawn from the residuals
    of vectors the earlier levels were not drawn from, so deep levels keep a realistic scale."""
    levels = len(modules.quantizer.vq.layers)
    noise = torch.randn(2 * levels, 1, config.frame_size * 32)
    noise = noise * torch.linspace(0.01, 1.0, 2 * levels)[:, None, None]
    pools = modules.encoder(noise).transpose(1, 2).reshape(levels, -1, config.dimension)
    for i, layer in enumerate(modules.quantizer.vq.layers):
        cb = layer._codebook
        pick = torch.randint(0, pools.shape[1], (config.cardinality,))
        picked = pools[i, pick]
        cb.embed.copy_(picked + 0.1 * picked.std() * torch.randn_like(picked))  # no duplicates
        cb.embed_avg.copy_(cb.embed)
        flat = pools.reshape(-1, config.dimension)
        pools = (flat - cb.dequantize(cb.quantize(flat))).reshape(pools.shape)


def fold_weight_norm(module: nn.Module) -> None:
    """Replace weight-norm reparametrisation by plain weights: inference computes them once."""
    for sub in module.modules():
        if hasattr(sub, "weight_g") and hasattr(sub, "weight_v"):
            torch.nn.utils.remove_weight_norm(sub)
