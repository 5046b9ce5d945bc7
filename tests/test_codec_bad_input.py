"""Bad input raises ValueError saying what was expected."""
import pytest
import torch


@pytest.mark.parametrize("wav, match", [
    (torch.zeros(1, 640), r"\[B, 1, T\]"),
    (torch.zeros(1, 2, 640), "mono"),
    (torch.zeros(1, 1, 640, dtype=torch.float64), "float32"),
    (torch.zeros(1, 1, 641), "whole number of frames"),
    (torch.zeros(1, 1, 0), "whole number of frames"),
    (torch.full((1, 1, 640), float("nan")), "NaN"),
    (torch.full((1, 1, 640), float("inf")), "NaN or infinite"),
    ([0.0] * 640, "torch.Tensor"),
])
def test_bad_audio(tiny_codec, wav, match):
    with pytest.raises(ValueError, match=match):
        tiny_codec.encode(wav)
    with pytest.raises(ValueError, match=match):
        tiny_codec.stream(1).encode(wav)


@pytest.mark.parametrize("codes, match", [
    (torch.zeros(1, 2, dtype=torch.long), r"\[B, 2, F\]"),
    (torch.zeros(1, 3, 4, dtype=torch.long), r"\[B, 2, F\]"),
    (torch.zeros(1, 2, 4, dtype=torch.int32), "int64"),
    (torch.full((1, 2, 4), 64, dtype=torch.long), r"\[0, 64\)"),
    (torch.full((1, 2, 4), -1, dtype=torch.long), r"\[0, 64\)"),
    (torch.zeros(1, 2, 0, dtype=torch.long), "at least one frame"),
])
def test_bad_codes(tiny_codec, codes, match):
    with pytest.raises(ValueError, match=match):
        tiny_codec.decode(codes)
    with pytest.raises(ValueError, match=match):
        tiny_codec.stream(1).decode(codes)


def test_stream_checks_batch_and_slots(tiny_codec):
    s = tiny_codec.stream(2)
    with pytest.raises(ValueError, match="expected 2"):
        s.encode(torch.zeros(3, 1, 640))
    with pytest.raises(ValueError, match="slots must lie"):
        s.reset([5])
    with pytest.raises(ValueError, match="must not repeat"):
        s.encode(torch.zeros(2, 1, 640), slots=[1, 1])
    with pytest.raises(ValueError, match="num_codebooks"):
        from antiphon.codec import load_codec
        load_codec("random:tiny", num_codebooks=9)
