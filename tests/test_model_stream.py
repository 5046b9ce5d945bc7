"""Cached frame-by-frame stepping equals teacher-forced passes; slots are independent."""
import pytest
import torch

from antiphon.model import SamplingSettings, load_model

GREEDY = SamplingSettings(text_temperature=0, audio_temperature=0)


@pytest.fixture(scope="module")
def tiny():
    return load_model("random:tiny")


def _greedy_stream(model, batch):
    s = model.stream(batch)
    for slot in range(batch):
        s.configure(slot, GREEDY)
    return s


def _teacher_forced(model, tokens):
    with torch.no_grad():
        return model(tokens[None])


def test_steps_equal_teacher_forced_for_slots_started_at_different_ticks(tiny):
    """Slot 0 runs from tick 0; slot 1 is reset at tick 7; slot 2 at tick 45 (after the ring
    of 32 frames wrapped for slot 0). Each slot's logits equal one sliding-window pass."""
    B, K, T = 3, tiny.cfg.num_codebooks, 90
    s = _greedy_stream(tiny, B)
    g = torch.Generator().manual_seed(0)
    user = torch.randint(0, tiny.cfg.cardinality, (T, B, K), generator=g)
    starts = [0, 7, 45]
    tokens = {b: [] for b in range(B)}
    logits = {b: [] for b in range(B)}
    for t in range(T):
        for b, start in enumerate(starts):
            if t == start and start:
                s.reset([b])
                s.configure(b, GREEDY)
        s.step(user[t])
        for b, start in enumerate(starts):
            if t >= start:
                tokens[b].append(s.last_tokens[b])
                logits[b].append((s.last_logits[0][b], s.last_logits[1][b]))
    for b in range(B):
        text, audio = _teacher_forced(tiny, torch.stack(tokens[b]))
        assert len(tokens[b]) > 0
        assert (text[0] - torch.stack([x[0] for x in logits[b]])).abs().max() < 1e-4
        assert (audio[0] - torch.stack([x[1] for x in logits[b]])).abs().max() < 1e-4


def test_after_wraparound_equals_sliding_window_pass(tiny):
    """Past the ring's length every step equals the sliding-window teacher-forced pass (each layer
    sees `context` frames), and differs from full causal attention: the window is real."""
    from antiphon import kernels
    from antiphon.kernels import reference

    C = tiny.cfg.context
    s = _greedy_stream(tiny, 1)
    user = torch.randint(0, tiny.cfg.cardinality, (C + 20, 1, tiny.cfg.num_codebooks))
    toks, logits = [], []
    for t in range(C + 20):
        s.step(user[t])
        toks.append(s.last_tokens[0])
        logits.append(s.last_logits[1][0])
    tokens, stepped = torch.stack(toks), torch.stack(logits)
    assert (_teacher_forced(tiny, tokens)[1][0] - stepped).abs().max() < 1e-4
    full = lambda q, k, v, window=None: reference.prefill(q, k, v, None)  # noqa: E731
    orig = kernels.prefill
    kernels.prefill = full
    try:
        unwindowed = _teacher_forced(tiny, tokens)[1][0]
    finally:
        kernels.prefill = orig
    assert (unwindowed[:C] - stepped[:C]).abs().max() < 1e-4
    assert (unwindowed[C:] - stepped[C:]).abs().max() > 1e-3


def test_inactive_slots_are_untouched(tiny):
    K, card = tiny.cfg.num_codebooks, tiny.cfg.cardinality
    user = torch.randint(0, card, (20, 2, K))
    s = _greedy_stream(tiny, 2)
    solo = _greedy_stream(tiny, 1)
    for t in range(20):
        active = torch.tensor([True, t % 3 != 0])
        codes, text = s.step(user[t], active)
        if active[1]:
            solo_codes, solo_text = solo.step(user[t][1:])
            assert (s.last_logits[1][1] - solo.last_logits[1][0]).abs().max() < 1e-4
            assert torch.equal(codes[1], solo_codes[0])
        else:
            assert torch.equal(codes[1], tiny.silence_codes)
    assert int(s.cache.pos[1]) == int(solo.cache.pos[0]) == sum(t % 3 != 0 for t in range(20))


def test_reset_slot_equals_fresh_stream(tiny):
    K, card = tiny.cfg.num_codebooks, tiny.cfg.cardinality
    user = torch.randint(0, card, (30, 2, K))
    s = _greedy_stream(tiny, 2)
    for t in range(30):
        s.step(user[t])
    s.reset([0])
    s.configure(0, GREEDY)
    fresh = _greedy_stream(tiny, 1)
    for t in range(10):
        a, ta = s.step(user[t])
        b, tb = fresh.step(user[t][:1])
        assert torch.equal(a[0], b[0]) and torch.equal(ta[0], tb[0])
        assert (s.last_logits[1][0] - fresh.last_logits[1][0]).abs().max() < 1e-4


def test_outputs_are_aligned_after_the_delay(tiny):
    """The first `max_delay` frames are silence and pad; then codes are valid tokens."""
    s = _greedy_stream(tiny, 1)
    K = tiny.cfg.num_codebooks
    for t in range(4):
        codes, text = s.step(torch.zeros(1, K, dtype=torch.long))
        if t < s.max_delay:
            assert torch.equal(codes[0], tiny.silence_codes) and int(text[0]) == tiny.tokenizer.PAD
        assert ((codes >= 0) & (codes < tiny.cfg.cardinality)).all()


def test_memory_constant_over_10000_steps(tiny):
    s = tiny.stream(2)
    before = s.state_nbytes()
    ptrs = [t.data_ptr() for t in s.cache.k + s.cache.v]
    user = torch.zeros(2, tiny.cfg.num_codebooks, dtype=torch.long)
    for _ in range(10_000):
        s.step(user)
    assert s.state_nbytes() == before
    assert [t.data_ptr() for t in s.cache.k + s.cache.v] == ptrs
    assert int(s.cache.pos[0]) == 10_000
    assert int(s.cache.pos_of_entry[0].max()) == 9_999 and int(s.cache.pos_of_entry[0].min()) == 10_000 - 32


@pytest.mark.parametrize("codes, active, match", [
    (torch.zeros(2, 3, dtype=torch.long), None, r"shape \[2, 2\]"),
    (torch.zeros(2, 2, dtype=torch.int32), None, "int64"),
    (torch.full((2, 2), 64, dtype=torch.long), None, r"\[0, 64\)"),
    (torch.full((2, 2), -3, dtype=torch.long), None, r"\[0, 64\)"),
    (torch.zeros(2, 2, dtype=torch.long), torch.ones(3, dtype=torch.bool), "active"),
    (torch.zeros(2, 2, dtype=torch.long), torch.ones(2), "active"),
    ([[0, 0], [0, 0]], None, "tensor of shape"),
])
def test_bad_step_input(tiny, codes, active, match):
    with pytest.raises(ValueError, match=match):
        tiny.stream(2).step(codes, active)


def test_bad_sampling_settings(tiny):
    s = tiny.stream(1)
    with pytest.raises(ValueError, match="top_p"):
        s.configure(0, SamplingSettings(text_top_p=0))
    with pytest.raises(ValueError, match="temperature"):
        s.configure(0, SamplingSettings(audio_temperature=-1))
    with pytest.raises(ValueError, match="slots must lie"):
        s.reset([4])
