import torch

from antiphon.model.sampling import sample


def _settings(B, t, k, p):
    return torch.full((B,), t), torch.full((B,), k, dtype=torch.long), torch.full((B,), p)


def test_temperature_zero_is_greedy():
    logits = torch.randn(4, 3, 50)
    out = sample(logits, *_settings(4, 0.0, 0, 1.0), torch.Generator().manual_seed(0))
    assert torch.equal(out, logits.argmax(-1))


def test_top_k_one_and_tiny_top_p_are_greedy():
    logits = torch.randn(4, 50)
    g = torch.Generator().manual_seed(1)
    assert torch.equal(sample(logits, *_settings(4, 1.0, 1, 1.0), g), logits.argmax(-1))
    assert torch.equal(sample(logits, *_settings(4, 1.0, 0, 1e-6), g), logits.argmax(-1))


def test_top_k_limits_choices_and_seed_reproduces():
    logits = torch.randn(2, 100)
    top5 = logits.topk(5).indices
    draws = [sample(logits, *_settings(2, 2.0, 5, 1.0), torch.Generator().manual_seed(s)) for s in range(50)]
    for d in draws:
        for b in range(2):
            assert d[b] in top5[b]
    assert len({tuple(d.tolist()) for d in draws}) > 1  # really sampling
    again = sample(logits, *_settings(2, 2.0, 5, 1.0), torch.Generator().manual_seed(0))
    assert torch.equal(again, draws[0])


def test_per_slot_settings():
    logits = torch.randn(2, 100)
    temp = torch.tensor([0.0, 5.0])
    k = torch.tensor([0, 0])
    p = torch.tensor([1.0, 1.0])
    outs = {int(sample(logits, temp, k, p, torch.Generator().manual_seed(s))[1]) for s in range(30)}
    assert int(sample(logits, temp, k, p, torch.Generator().manual_seed(0))[0]) == int(logits[0].argmax())
    assert len(outs) > 3


def test_draws_follow_the_distribution_on_both_paths():
    """20000 rows of the same logits: the frequency of each token is its softmax probability, within
    the top-k cut, both without a sort (top_p 1, one top_k) and with it (top_p < 1 or per-slot top_k)."""
    B = 20000
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0]).expand(B, 5)
    probs = logits[0, :3].softmax(-1)
    g = torch.Generator().manual_seed(3)
    temp = torch.ones(B)
    per_slot_k = torch.full((B,), 3, dtype=torch.long)
    per_slot_k[0] = 2  # one slot with another top_k: the sorted path
    for k, p in ((torch.full((B,), 3, dtype=torch.long), torch.ones(B)),
                 (torch.full((B,), 3, dtype=torch.long), torch.full((B,), 0.9999)),
                 (per_slot_k, torch.ones(B))):
        out = sample(logits, temp, k, p, g)
        assert int(out.max()) <= 2
        freq = torch.bincount(out[1:], minlength=3)[:3].float() / (B - 1)
        assert (freq - probs).abs().max() < 0.015, (freq, probs)
