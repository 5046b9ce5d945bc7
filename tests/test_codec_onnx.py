"""The ONNX Runtime backend gives the torch path's codes and audio."""
import torch

from antiphon.codec import load_codec


def test_onnx_parity(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    ref = load_codec("random:tiny")
    ort = load_codec("random:tiny", backend="onnx")
    assert list((tmp_path / "onnx").glob("*.onnx")), "the export should be cached"
    f = ref.frame_size
    wav = torch.randn(2, 1, 7 * f) * 0.2
    s_ref, s_ort = ref.stream(2), ort.stream(2)
    for a, b in [(0, 1), (1, 4), (4, 7)]:
        c_ref = s_ref.encode(wav[..., a * f:b * f])
        c_ort = s_ort.encode(wav[..., a * f:b * f])
        assert torch.equal(c_ref, c_ort)
        y_ref, y_ort = s_ref.decode(c_ref), s_ort.decode(c_ref)
        assert (y_ref - y_ort).abs().max() < 1e-4
    s_ort.reset([0])
    s_ref.reset([0])
    assert torch.equal(s_ref.encode(wav[..., :f]), s_ort.encode(wav[..., :f]))
