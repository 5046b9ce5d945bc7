"""Streaming equals offline coding, for any split into whole frames, per slot."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from antiphon.codec import load_codec

FRAMES = 10


def _chunks(draw_sizes, total):
    out, i = [], 0
    for n in draw_sizes:
        if i >= total:
            break
        n = min(n, total - i)
        out.append((i, i + n))
        i += n
    if i < total:
        out.append((i, total))
    return out


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=FRAMES), seed=st.integers(0, 2**16))
def test_stream_encode_decode_equal_offline(tiny_codec, sizes, seed):
    c = tiny_codec
    g = torch.Generator().manual_seed(seed)
    wav = torch.randn(2, 1, FRAMES * c.frame_size, generator=g) * 0.2
    codes = c.encode(wav)
    audio = c.decode(codes)
    s = c.stream(batch_size=2)
    spans = _chunks(sizes, FRAMES)
    streamed = torch.cat([s.encode(wav[..., a * c.frame_size:b * c.frame_size]) for a, b in spans], -1)
    assert torch.equal(streamed, codes)
    decoded = torch.cat([s.decode(codes[..., a:b]) for a, b in spans], -1)
    assert decoded.shape == audio.shape
    assert (decoded - audio).abs().max() < 1e-5


def test_published_architecture_streams_exactly():
    c = load_codec("random:encodec_24khz")
    assert (c.sample_rate, c.frame_size, c.frame_rate, c.cardinality) == (24000, 320, 75.0, 1024)
    wav = torch.randn(1, 1, 6 * c.frame_size) * 0.1
    codes = c.encode(wav)
    assert codes.shape == (1, 8, 6)
    s = c.stream(1)
    got = torch.cat([s.encode(wav[..., :320]), s.encode(wav[..., 320:])], -1)
    assert torch.equal(got, codes)
    out = torch.cat([s.decode(codes[..., i:i + 1]) for i in range(6)], -1)
    assert (out - c.decode(codes)).abs().max() < 1e-5


def test_num_codebooks_is_the_bandwidth():
    c2 = load_codec("random:encodec_24khz", num_codebooks=2)
    c32 = load_codec("random:encodec_24khz", num_codebooks=32)
    assert c2.bandwidth_kbps == 1.5 and c32.bandwidth_kbps == 24.0
    wav = torch.randn(1, 1, 4 * 320) * 0.1
    assert torch.equal(c32.encode(wav)[:, :2], c2.encode(wav))


def test_reset_slot_behaves_like_fresh_stream(tiny_codec):
    c = tiny_codec
    wav = torch.randn(3, 1, 8 * c.frame_size) * 0.2
    s = c.stream(3)
    s.encode(wav[..., :4 * c.frame_size])
    s.reset([1])
    got = s.encode(wav[..., 4 * c.frame_size:])
    fresh = c.encode(wav[1:2, :, 4 * c.frame_size:])
    assert torch.equal(got[1:2], fresh)
    # the other slots kept their history
    assert torch.equal(got[0:1], c.encode(wav[0:1])[..., 4:])


def test_sessions_starting_at_different_ticks(tiny_codec):
    """Slot 1 joins at tick 3 (reset then), slot 0 runs from tick 0; each equals its own offline coding."""
    c = tiny_codec
    f = c.frame_size
    a = torch.randn(1, 1, 9 * f) * 0.2
    b = torch.randn(1, 1, 6 * f) * 0.2
    s = c.stream(2)
    codes_a, codes_b = [], []
    for t in range(9):
        row_b = b[..., (t - 3) * f:(t - 2) * f] if t >= 3 else torch.zeros(1, 1, f)
        if t == 3:
            s.reset([1])
        out = s.encode(torch.cat([a[..., t * f:(t + 1) * f], row_b]))
        codes_a.append(out[0:1])
        if t >= 3:
            codes_b.append(out[1:2])
    assert torch.equal(torch.cat(codes_a, -1), c.encode(a))
    assert torch.equal(torch.cat(codes_b, -1), c.encode(b))


def test_slot_subset_leaves_other_slots_alone(tiny_codec):
    c = tiny_codec
    f = c.frame_size
    wav = torch.randn(3, 1, 4 * f) * 0.2
    s = c.stream(3)
    first = s.encode(wav[..., :2 * f])
    only = s.encode(wav[[2], :, 2 * f:], slots=[2])  # slots 0 and 1 skip these ticks
    assert torch.equal(torch.cat([first[2:], only], -1), c.encode(wav[2:3]))
    resumed = s.encode(wav[:2, :, 2 * f:], slots=[0, 1])
    assert torch.equal(torch.cat([first[:2], resumed], -1), c.encode(wav[:2]))
