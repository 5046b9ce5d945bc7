"""Configurations of Kyutai's Moshi architecture: a temporal transformer over the sum of a text
embedding and 2K audio embeddings (the agent's K codebooks, then the user's), and a depth
transformer that writes the agent's K codebooks of a frame one after another."""
from __future__ import annotations

import dataclasses

from .config import FrameModelConfig


@dataclasses.dataclass(frozen=True)
class MoshiConfig(FrameModelConfig):
    name: str
    codec: str  # what load_codec takes
    num_codebooks: int = 8  # the agent's, and as many of the user's
    cardinality: int = 2048
    text_vocab: int = 32000
    dim: int = 4096
    layers: int = 32
    heads: int = 32
    kv_heads: int = 32
    ffn: int = 22528  # width of the gated MLP's input projection (both halves)
    context: int = 3000  # frames of attention: the ring cache length and sliding window
    rope_base: float = 10000.0
    depth_dim: int = 1024
    depth_layers: int = 6
    depth_heads: int = 16
    depth_ffn: int = 5632
    norm_eps: float = 1e-8
    text_pad: int = 3  # the text stream's "nothing said this frame"
    text_epad: int = 0  # "the words start next frame"
    acoustic_delay: int = 1
    LABEL = "Moshi config"

    @property
    def depth_head_dim(self) -> int:
        return self.depth_dim // self.depth_heads

    def validate(self) -> "MoshiConfig":
        if self.dim % self.heads or self.heads % self.kv_heads or self.head_dim % 2:
            raise ValueError(f"dim {self.dim} must divide by heads {self.heads} into an even head size, "
                             f"and heads by kv_heads {self.kv_heads}")
        if self.depth_dim % self.depth_heads or self.ffn % 2 or self.depth_ffn % 2:
            raise ValueError("depth_dim must divide by depth_heads, and both MLP widths must be even")
        if self.context < 2:
            raise ValueError("context must be at least 2 frames")
        return self

    def to_transformers(self, mimi_config=None):
        """The same architecture as transformers' MoshiConfig (the reference the tests compare with)."""
        from transformers import MoshiConfig as HFMoshiConfig

        depth = dict(hidden_size=self.depth_dim, num_hidden_layers=self.depth_layers,
                     num_attention_heads=self.depth_heads, num_key_value_heads=self.depth_heads,
                     ffn_dim=self.depth_ffn, max_position_embeddings=self.num_codebooks + 1,
                     sliding_window=self.num_codebooks, rms_norm_eps=self.norm_eps)
        audio = mimi_config.to_dict() if mimi_config is not None else {"codebook_size": self.cardinality}
        return HFMoshiConfig(vocab_size=self.text_vocab, hidden_size=self.dim, num_hidden_layers=self.layers,
                             num_attention_heads=self.heads, num_key_value_heads=self.kv_heads,
                             audio_vocab_size=self.cardinality, max_position_embeddings=self.context,
                             sliding_window=self.context, ffn_dim=self.ffn, rms_norm_eps=self.norm_eps,
                             num_codebooks=self.num_codebooks, rope_parameters={"rope_type": "default",
                                                                                "rope_theta": self.rope_base},
                             audio_encoder_config=audio, depth_decoder_config=depth)

    @classmethod
    def from_transformers(cls, hf, name: str, codec: str) -> "MoshiConfig":
        depth = hf.depth_decoder_config
        theta = (hf.rope_parameters or {}).get("rope_theta", 10000.0)
        return cls(name=name, codec=codec, num_codebooks=hf.num_codebooks, cardinality=hf.audio_vocab_size,
                   text_vocab=hf.vocab_size, dim=hf.hidden_size, layers=hf.num_hidden_layers,
                   heads=hf.num_attention_heads, kv_heads=hf.num_key_value_heads, ffn=hf.ffn_dim,
                   context=hf.sliding_window, rope_base=float(theta), depth_dim=depth.hidden_size,
                   depth_layers=depth.num_hidden_layers, depth_heads=depth.num_attention_heads,
                   depth_ffn=depth.ffn_dim, norm_eps=hf.rms_norm_eps).validate()


MOSHI_CONFIGS: dict[str, MoshiConfig] = {
    # Tests: the whole architecture at sizes that step in a few milliseconds on a CPU, with a
    # context of 48 frames so that a test runs through the ring cache many times over.
    "moshi-tiny": MoshiConfig(name="moshi-tiny", codec="random:mimi-tiny", cardinality=64, text_vocab=48,
                              dim=64, layers=2, heads=4, kv_heads=4, ffn=176, context=48,
                              depth_dim=32, depth_layers=2, depth_heads=2, depth_ffn=96),
    # The published 7B model's shapes (moshiko / moshika), for timing with random weights.
    "moshi-7b": MoshiConfig(name="moshi-7b", codec="random:mimi"),
}
