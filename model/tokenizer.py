"""Byte-level text tokenizer for the inner monologue: tiny, self-contained, stored in the
checkpoint as its own description."""
from __future__ import annotations

import codecs


class ByteTokenizer:
    PAD = 256  # the agent says nothing this frame
    BOS = 257  # before the first frame
    vocab_size = 258

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, tokens) -> str:
        return bytes(t for t in tokens if 0 <= t < 256).decode("utf-8", errors="replace")

    def text_decoder(self) -> "ByteTextDecoder":
        return ByteTextDecoder()

    def to_dict(self) -> dict:
        return {"type": "bytes", "pad": self.PAD, "bos": self.BOS, "vocab_size": self.vocab_size}

    @classmethod
    def from_dict(cls, d: dict) -> "ByteTokenizer":
        if d.get("type") != "bytes" or d.get("vocab_size") != cls.vocab_size:
            raise ValueError(f"unsupported tokenizer {d!r}; this version reads byte tokenizers of 258 tokens")
        return cls()


class ByteTextDecoder:
    """Token by token: pad and bos say nothing; bytes are decoded incrementally, waiting for the
    rest of a multi-byte character and replacing invalid bytes."""

    def __init__(self):
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, token: int) -> str:
        return self._utf8.decode(bytes([token])) if 0 <= token < ByteTokenizer.PAD else ""
