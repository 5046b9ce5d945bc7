"""The ONNX Runtime model step gives the torch step's logits, tokens and cache, through ring
wraparound, idle slots and resets (grouped-query attention: the tiny config has 4 heads over 2)."""
import pytest
import torch

from antiphon.model import SamplingSettings, load_model

GREEDY = SamplingSettings(text_temperature=0, audio_temperature=0)


def test_onnx_step_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    ref = load_model("random:tiny", seed=3)
    ort = load_model("random:tiny", seed=3, backend="onnx")
    assert list((tmp_path / "onnx").glob("model-*.onnx")), "the export should be cached"
    assert ref.cfg.heads != ref.cfg.kv_heads
    B, K, T = 3, ref.cfg.num_codebooks, 80  # the ring holds 32 frames: it wraps twice
    a, b = ref.stream(B), ort.stream(B)
    for s in (a, b):
        for slot in range(B):
            s.configure(slot, GREEDY)
    g = torch.Generator().manual_seed(1)
    for t in range(T):
        if t == 50:
            a.reset([1])
            b.reset([1])
            for s in (a, b):
                s.configure(1, GREEDY)
        user = torch.randint(0, ref.cfg.cardinality, (B, K), generator=g)
        active = torch.rand(B, generator=g) > 0.25
        codes_a, text_a = a.step(user, active)
        codes_b, text_b = b.step(user, active)
        for la, lb in zip(a.last_logits, b.last_logits):
            assert (la[active] - lb[active]).abs().max() < 1e-4, f"tick {t}"
        assert torch.equal(codes_a, codes_b) and torch.equal(text_a, text_b), f"tick {t}"
    assert torch.allclose(a.cache.k_all, b.cache.k_all, atol=1e-5)
    assert torch.allclose(a.cache.v_all, b.cache.v_all, atol=1e-5)
    assert torch.equal(a.cache.pos, b.cache.pos) and torch.equal(a.cache.pos_of_entry, b.cache.pos_of_entry)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="'torch' or 'onnx'"):
        load_model("random:tiny", backend="tensorrt")
