"""The ONNX Runtime model step gives the torch step's logits, tokens and cache, through ring
wraparound, idle slots and resets (grouped-query attention: the tiny config has 4 heads over 2)."""
import pytest
import torch

from antiphon.codec import onnx_backend
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
    with pytest.raises(ValueError, match="'torch', 'onnx' or 'onnx-int8'"):
        load_model("random:tiny", backend="tensorrt")


def test_onnx_step_rows_split_over_threads_equal_one_call(tmp_path, monkeypatch):
    """Served on a CPU, the step's rows go to several ONNX calls at once; slots are independent,
    so the logits, tokens and cache are those of one call."""
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    model = load_model("random:tiny", seed=4, backend="onnx")
    monkeypatch.setattr(onnx_backend, "_workers", 2)  # two calls at once for six rows, on any machine
    runs = []
    for split in ("1", "0"):
        monkeypatch.setenv("ANTIPHON_ONNX_SPLIT", split)
        s = model.stream(6)
        for slot in range(6):
            s.configure(slot, GREEDY)
        g = torch.Generator().manual_seed(2)
        out = []
        for _ in range(40):  # past the 32-frame ring
            codes, text = s.step(torch.randint(0, model.cfg.cardinality, (6, model.cfg.num_codebooks), generator=g))
            out.append((codes, text, s.last_logits[0]))
        runs.append((out, s.cache.k_all.clone()))
    (split_out, split_k), (whole_out, whole_k) = runs
    for (c1, t1, l1), (c2, t2, l2) in zip(split_out, whole_out):
        assert torch.equal(c1, c2) and torch.equal(t1, t2)
        torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(split_k, whole_k, rtol=1e-5, atol=1e-5)
