"""The language model recipe's regularizers: user-code noise (a pure function of the step's seed,
so resume stays exact) and dropout (in teacher-forced training only)."""
import torch


def test_user_noise_replaces_about_p_of_the_codes_the_same_way_for_the_same_step():
    import random

    from antiphon.model.train.lm_data import noisy_user

    user = torch.randint(0, 64, (4, 2, 2000))
    a, b = noisy_user(user, 0.1, 64, random.Random(3)), noisy_user(user, 0.1, 64, random.Random(3))
    assert torch.equal(a, b), "a step's batch must be a pure function of its seed (exact resume)"
    changed = (a != user).float().mean().item()
    assert 0.09 < changed < 0.107  # 0.1 * 63/64 of the codes: a random code may equal the old one
    assert a.dtype == user.dtype and int(a.min()) >= 0 and int(a.max()) < 64
    assert not torch.equal(noisy_user(user, 0.1, 64, random.Random(4)), a)
    assert noisy_user(user, 0.0, 64, random.Random(3)) is user


def test_dropout_acts_in_teacher_forced_training_only():
    from antiphon.model.config import CONFIGS
    from antiphon.model.transformer import SpeechTransformer

    torch.manual_seed(0)
    model = SpeechTransformer(CONFIGS["tiny"])
    tokens = torch.randint(0, 60, (2, 12, 1 + 2 * CONFIGS["tiny"].num_codebooks))
    model.eval()
    clean = model(tokens)[0]
    model.train()
    assert torch.equal(model(tokens)[0], clean), "no dropout unless a recipe sets it"
    model.dropout = 0.3
    noisy = model(tokens)[0]
    assert not torch.allclose(noisy, clean)
    model.eval()
    assert torch.equal(model(tokens)[0], clean)
