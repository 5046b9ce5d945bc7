"""The ONNX Runtime backend gives the torch path's codes and audio."""
import torch

from antiphon.codec import load_codec, onnx_backend


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


def test_rows_split_over_threads_give_the_same_stream(tmp_path, monkeypatch):
    """A batch's rows split over several ONNX calls at once (as served on a CPU) give the codes and
    audio of one call: slots are independent, whichever call computes them."""
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    monkeypatch.setattr(onnx_backend, "_workers", 2)  # two calls at once for six rows, on any machine
    _compare_split(monkeypatch)


def _compare_split(monkeypatch):
    codec = load_codec("random:tiny", backend="onnx")
    gen = torch.Generator().manual_seed(0)
    wav = (0.1 * torch.randn(6, 1, 5 * codec.frame_size, generator=gen)).float()

    def run():
        stream = codec.stream(6)
        codes = torch.cat([stream.encode(wav[..., i * codec.frame_size:(i + 1) * codec.frame_size])
                           for i in range(5)], -1)
        audio = torch.cat([stream.decode(codes[..., i:i + 1]) for i in range(5)], -1)
        return codes, audio

    split_codes, split_audio = run()
    monkeypatch.setenv("ANTIPHON_ONNX_SPLIT", "0")
    whole_codes, whole_audio = run()
    assert torch.equal(split_codes, whole_codes)
    torch.testing.assert_close(split_audio, whole_audio, rtol=1e-5, atol=1e-6)
    assert torch.equal(whole_codes, codec.encode(wav))  # and both are the offline codes
