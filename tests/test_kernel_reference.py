"""The ONNX step's attention form (the ring before this frame's write plus the frame's own key)
equals the reference decode after the write: empty, partly filled and wrapped rings, grouped heads."""
import torch

from antiphon.kernels import reference


def test_decode_before_write_equals_decode_after_write():
    g = torch.Generator().manual_seed(0)
    B, H, Hkv, C, D = 4, 4, 2, 8, 16
    k_cache, v_cache = torch.randn(B, Hkv, C, D, generator=g), torch.randn(B, Hkv, C, D, generator=g)
    q = torch.randn(B, H, D, generator=g)
    k_new, v_new = torch.randn(B, Hkv, D, generator=g), torch.randn(B, Hkv, D, generator=g)
    q_pos = torch.tensor([0, 3, 8, 21])  # empty ring, partly filled, just wrapped, wrapped twice
    cache_pos = torch.full((B, C), -1)
    for b, p in enumerate(q_pos.tolist()):
        for pos in range(max(0, p - C), p):
            cache_pos[b, pos % C] = pos
    slot = q_pos % C
    rows = torch.arange(B)
    before = reference.decode_before_write(q, k_new, v_new, k_cache, v_cache, cache_pos, q_pos, C)
    cache_pos[rows, slot] = q_pos
    k_after, v_after = k_cache.clone(), v_cache.clone()
    k_after[rows, :, slot] = k_new
    v_after[rows, :, slot] = v_new
    after = reference.decode(q, k_after, v_after, cache_pos, q_pos, C)
    assert torch.allclose(before, after, atol=1e-5)
    # and with this position already in cache_pos (as the engine's ring has it when the step runs)
    again = reference.decode_before_write(q, k_new, v_new, k_cache, v_cache, cache_pos, q_pos, C)
    assert torch.allclose(again, after, atol=1e-5)
