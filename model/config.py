"""Model configurations. A config names the codec whose tokens it reads and writes."""
from __future__ import annotations

import dataclasses

from antiphon.codec.architecture import checked_fields


class FrameModelConfig:
    """What the project's model configs and Moshi's share: heads, the codebooks' delays, and a
    dict form checked field by field on the way back."""
    LABEL = "model config"

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def delays(self) -> list[int]:
        """Per codebook: the first (semantic) undelayed, the others `acoustic_delay` frames later."""
        return [0] + [self.acoustic_delay] * (self.num_codebooks - 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        return cls(**checked_fields(cls, d, cls.LABEL))


@dataclasses.dataclass(frozen=True)
class ModelConfig(FrameModelConfig):
    name: str
    codec: str  # what load_codec takes; the checkpoint records it
    num_codebooks: int
    cardinality: int
    dim: int
    layers: int
    heads: int
    kv_heads: int
    context: int  # frames of attention (ring cache length and sliding window)
    text_vocab: int = 258  # bytes + pad + bos, see tokenizer.py
    acoustic_delay: int = 1  # frames the codebooks after the first are shifted by
    mlp_ratio: float = 8 / 3
    rope_base: float = 10000.0

    def validate(self) -> "ModelConfig":
        if self.dim % self.heads or self.heads % self.kv_heads:
            raise ValueError(f"dim {self.dim} must divide by heads {self.heads}, heads by kv_heads {self.kv_heads}")
        if self.head_dim % 2:
            raise ValueError("head_dim must be even for rotary embeddings")
        if self.context < 2:
            raise ValueError("context must be at least 2 frames")
        return self


CONFIGS: dict[str, ModelConfig] = {
    # Tests: runs fast on the CPU.
    "tiny": ModelConfig(name="tiny", codec="random:tiny", num_codebooks=2, cardinality=64,
                        dim=64, layers=2, heads=4, kv_heads=2, context=32),
    # The bundled model: the project's small 16 kHz codec, 4 codebooks, 5 s of context at 25 Hz (trained
    # on 8 s conversations, so the sliding window is exercised in training).
    "small": ModelConfig(name="small", codec="random:small", num_codebooks=4, cardinality=256,
                         dim=256, layers=6, heads=4, kv_heads=4, context=125),
    # About 100M parameters, over the published 24 kHz EnCodec at 6 kbps.
    "100m": ModelConfig(name="100m", codec="random:encodec_24khz", num_codebooks=8, cardinality=1024,
                        dim=768, layers=12, heads=12, kv_heads=4, context=750),
}
