"""Tokenized conversations for the language model: rendered, encoded by the trained codec, and
cached in shards (a kill loses at most the shard being written)."""
from __future__ import annotations

import copy
import hashlib
import os
import random
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.conversations import ConversationMaker
from ..data.speech import user_voices

SHARD = 64
DATA_VERSION = 3  # bump when the conversations change
MAX_ANSWERS = 16  # answer starts kept per conversation (8 s hold at most 6)


def codec_digest(codec_dir: Path) -> str:
    return hashlib.sha1((Path(codec_dir) / "model.safetensors").read_bytes()).hexdigest()[:12]


class Float32Encoder:
    """The codec's encoder and quantizer in float32: 1.4x faster than the float64 streaming path,
    and training data does not need bit-exact agreement with a stream."""

    def __init__(self, codec):
        self.encoder = copy.deepcopy(codec.modules.encoder).float()
        self.quantizer = copy.deepcopy(codec.modules.quantizer).float()
        self.num_codebooks = codec.num_codebooks

    @torch.no_grad()
    def __call__(self, pcm: list) -> torch.Tensor:
        emb = self.encoder(torch.from_numpy(np.stack(pcm))[:, None])
        return self.quantizer.vq.encode(emb, n_q=self.num_codebooks).transpose(0, 1).to(torch.int16)


def build(codec, codec_dir: Path, conversations: int, frames: int, seed: int, voices: int, split: str,
          root: Path, barge_in: float = 0.15, show: bool = True) -> dict:
    """{"text": [N,T] int16, "agent": [N,K,T] int16, "user": [N,K,T] int16, "answer_starts":
    [N,MAX_ANSWERS] int16 (-1 past the last answer)}, from the cache when it is there."""
    key = f"v{DATA_VERSION}-{codec_digest(codec_dir)}-{split}-{frames}f-{voices}v-s{seed}-b{barge_in}"
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    maker = ConversationMaker(codec.sample_rate, codec.frame_size)
    pool = user_voices(split, voices, seed)
    encode = Float32Encoder(codec)
    shards = []
    for first in tqdm(range(0, conversations, SHARD), desc="render+encode", unit="shard", disable=not show):
        file = folder / f"{first:07d}.pt"
        if file.is_file():
            shard = torch.load(file)
        else:
            convs = [maker.make(frames, pool[i % len(pool)], split,
                                seed=random.Random(f"{seed}-{split}-{i}").randrange(2**31), barge_in=barge_in)
                     for i in range(first, min(first + SHARD, conversations))]
            starts = torch.full((len(convs), MAX_ANSWERS), -1, dtype=torch.int16)
            for row, c in enumerate(convs):
                found = c.answer_starts(codec.frame_size)[:MAX_ANSWERS]
                starts[row, :len(found)] = torch.tensor(found, dtype=torch.int16)
            shard = {"text": torch.tensor(np.stack([c.text for c in convs])).to(torch.int16), "answer_starts": starts,
                     "user": encode([c.user for c in convs]),
                     "agent": encode([c.agent for c in convs])}
            tmp = file.with_suffix(".tmp")
            torch.save(shard, tmp)
            os.replace(tmp, file)
        shards.append(shard)
    return {k: torch.cat([s[k] for s in shards])[:conversations] for k in ("text", "user", "agent", "answer_starts")}
