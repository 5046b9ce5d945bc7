"""The Mimi codec: transformers' MimiModel modules, streamed per slot. Streaming gives exactly
the codes of transformers' own offline encode, through the sliding window of the codec's
transformers many times over, and decodes to its offline audio."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from antiphon.codec import load_codec
from antiphon.codec.mimi import MimiCodec, random_mimi

from moshi_layouts import kyutai_mimi


@pytest.fixture(scope="module")
def codec():
    return load_codec("random:mimi-tiny", num_codebooks=8)


def audio(batch: int, frames: int, frame_size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(frames * frame_size) / 24000
    tone = torch.sin(2 * torch.pi * (200 + 300 * torch.rand(batch, 1, 1, generator=gen)) * t)
    return (0.3 * tone + 0.05 * torch.randn(batch, 1, frames * frame_size, generator=gen)).float()


def stream_encode(stream, wav, frame_size, chunks):
    out, i = [], 0
    for n in chunks:
        out.append(stream.encode(wav[..., i * frame_size:(i + n) * frame_size]))
        i += n
    return torch.cat(out, -1)


def test_streaming_equals_transformers_offline_encode_past_the_window(codec):
    frames = 20  # 40 positions of the 25 Hz transformer against its window of 6
    wav = audio(2, frames, codec.frame_size)
    reference = random_mimi("mimi-tiny").double().eval()
    with torch.no_grad():
        expected = reference.encode(wav.double(), num_quantizers=8).audio_codes
    assert torch.equal(codec.encode(wav), expected)
    for chunks in ([1] * frames, [3, 1, 5, 2, 4, 5]):
        got = stream_encode(codec.stream(2), wav, codec.frame_size, chunks)
        assert torch.equal(got, expected), chunks
    assert len(expected.unique()) > 30  # many codes used: a real comparison


def test_streaming_decode_equals_offline(codec):
    codes = codec.encode(audio(2, 16, codec.frame_size, seed=3))
    offline = codec.decode(codes)
    stream = codec.stream(2)
    got = torch.cat([stream.decode(codes[..., i:i + 1]) for i in range(codes.shape[-1])], -1)
    torch.testing.assert_close(got, offline, rtol=1e-4, atol=1e-4 * float(offline.abs().max()))


def test_reset_and_partial_slots(codec):
    wav = audio(2, 10, codec.frame_size, seed=4)
    fresh = codec.encode(wav[1:])
    stream = codec.stream(2)
    stream.encode(audio(2, 7, codec.frame_size, seed=5))
    stream.reset([1])
    left = stream._enc[0][0].clone()
    got = stream_encode_slots(stream, wav[1:], codec.frame_size, [1])
    assert torch.equal(got, fresh)
    assert torch.equal(stream._enc[0][0], left)  # slot 0 untouched by slot 1's calls


def stream_encode_slots(stream, wav, frame_size, slots):
    return torch.cat([stream.encode(wav[..., i * frame_size:(i + 1) * frame_size], slots=slots)
                      for i in range(wav.shape[-1] // frame_size)], -1)


def test_kyutai_and_transformers_layouts_load_the_same_codec(tmp_path, codec):
    mimi = random_mimi("mimi-tiny")
    wav = audio(1, 6, codec.frame_size, seed=6)
    expected = MimiCodec(random_mimi("mimi-tiny"), 8).encode(wav)
    mimi.save_pretrained(tmp_path / "hf")
    assert torch.equal(load_codec(str(tmp_path / "hf"), num_codebooks=8).encode(wav), expected)
    kyutai = tmp_path / "kyutai"
    kyutai.mkdir()
    save_file(kyutai_mimi(mimi), str(kyutai / "tokenizer-e351c8d8-checkpoint125.safetensors"))
    (kyutai / "mimi_config.json").write_text(mimi.config.to_json_string())
    loaded = load_codec(f"mimi:{kyutai / 'tokenizer-e351c8d8-checkpoint125.safetensors'}", num_codebooks=8)
    assert torch.equal(loaded.encode(wav), expected)
    assert torch.equal(loaded.decode(expected), MimiCodec(random_mimi("mimi-tiny"), 8).decode(expected))


def test_a_checkpoint_that_does_not_fit_names_what_is_wrong(tmp_path):
    state = kyutai_mimi(random_mimi("mimi-tiny"))
    del state["quantizer.rvq_first.input_proj.weight"]
    state["extra.weight"] = torch.zeros(1)
    file = tmp_path / "tokenizer-x.safetensors"
    save_file(state, str(file))
    (tmp_path / "mimi_config.json").write_text(random_mimi("mimi-tiny").config.to_json_string())
    with pytest.raises(ValueError, match=r"1 missing: quantizer\.semantic_residual_vector_quantizer\.input_proj"
                                         r"\.weight; 1 unexpected: extra\.weight"):
        load_codec(f"mimi:{file}")
    with pytest.raises(ValueError, match="neither a transformers Mimi or Moshi directory"):
        load_codec(f"mimi:{tmp_path}")
