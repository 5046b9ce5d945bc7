"""Input checks shared by the codec's offline and streaming paths: bad input raises a
ValueError that says what was expected."""
from __future__ import annotations

import torch


def check_audio(wav, frame_size: int, batch: int | None = None) -> torch.Tensor:
    if not isinstance(wav, torch.Tensor):
        raise ValueError(f"audio must be a torch.Tensor of shape [B, 1, T], got {type(wav).__name__}")
    if wav.dim() != 3 or wav.shape[1] != 1:
        raise ValueError(f"audio must have shape [B, 1, T] (mono), got {list(wav.shape)}")
    if wav.dtype != torch.float32:
        raise ValueError(f"audio must be float32, got {wav.dtype}")
    if batch is not None and wav.shape[0] != batch:
        raise ValueError(f"audio batch is {wav.shape[0]}, expected {batch} (one row per slot)")
    n = wav.shape[-1]
    if n == 0 or n % frame_size:
        raise ValueError(f"audio length must be a positive whole number of frames of {frame_size} samples, got {n}")
    if not torch.isfinite(wav).all():
        raise ValueError("audio contains NaN or infinite samples")
    return wav


def check_codes(codes, num_codebooks: int, cardinality: int, batch: int | None = None) -> torch.Tensor:
    if not isinstance(codes, torch.Tensor):
        raise ValueError(f"codes must be a torch.Tensor of shape [B, K, F], got {type(codes).__name__}")
    if codes.dim() != 3 or codes.shape[1] != num_codebooks:
        raise ValueError(f"codes must have shape [B, {num_codebooks}, F], got {list(codes.shape)}")
    if codes.dtype != torch.int64:
        raise ValueError(f"codes must be int64, got {codes.dtype}")
    if batch is not None and codes.shape[0] != batch:
        raise ValueError(f"codes batch is {codes.shape[0]}, expected {batch} (one row per slot)")
    if codes.shape[-1] == 0:
        raise ValueError("codes must hold at least one frame")
    if codes.numel() and (codes.min() < 0 or codes.max() >= cardinality):
        raise ValueError(f"codes must lie in [0, {cardinality}), got values in "
                         f"[{int(codes.min())}, {int(codes.max())}]")
    return codes


def check_slots(slots, batch_size: int) -> torch.Tensor:
    idx = torch.as_tensor(slots, dtype=torch.long).reshape(-1)
    if idx.numel() and (idx.min() < 0 or idx.max() >= batch_size):
        raise ValueError(f"slots must lie in [0, {batch_size}), got {idx.tolist()}")
    if idx.unique().numel() != idx.numel():
        raise ValueError(f"slots must not repeat, got {idx.tolist()}")
    return idx
