"""Antiphon's Moshi (our own temporal and depth transformers, ring cache, delays) against
transformers' MoshiForConditionalGeneration on the same random weights, loaded from the
checkpoint transformers itself writes. The reference is teacher-forced with the tokens our stream
read and chose, under a sliding-window mask of the same context, so every frame's text logits,
depth logits and greedy tokens are compared, through many wraparounds of the ring."""
from __future__ import annotations

import pytest
import torch

from antiphon.codec.mimi import mimi_config
from antiphon.model import load_model
from antiphon.model.moshi_config import MOSHI_CONFIGS
from antiphon.model.moshi_tokenizer import MoshiTokenizer
from antiphon.model.sampling import SamplingSettings

GREEDY = SamplingSettings(text_temperature=0, audio_temperature=0)
CFG = MOSHI_CONFIGS["moshi-tiny"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """transformers' Moshi with random weights, saved in its own layout beside a SentencePiece model."""
    from transformers import MoshiForConditionalGeneration

    torch.manual_seed(0)
    hf = MoshiForConditionalGeneration._from_config(CFG.to_transformers(mimi_config("mimi-tiny")),
                                                    attn_implementation="sdpa").eval()
    with torch.no_grad():  # transformers leaves some weights at unit variance and every norm at 1
        for name, p in hf.named_parameters():
            if name.startswith("audio_encoder."):
                continue
            if p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p))  # norms differ, so a mis-mapped one shows
            elif "embed" in name:
                p.normal_()
            else:
                p.normal_(0, p.shape[-1] ** -0.5)
    path = tmp_path_factory.mktemp("hf-moshi")
    hf.save_pretrained(path)
    tok = MoshiTokenizer.tiny(CFG.text_vocab)
    (path / "tokenizer_spm_32k_3.model").write_bytes(tok.sp.serialized_model_proto())
    return hf, path


def run_greedy(model, frames: int, batch: int = 2, seed: int = 1):
    """Our stream, greedy, on random user codes; per step: the tokens read and the logits."""
    stream = model.stream(batch)
    for slot in range(batch):
        stream.configure(slot, GREEDY)
    gen = torch.Generator().manual_seed(seed)
    tokens, text_logits, audio_logits = [], [], []
    for _ in range(frames):
        user = torch.randint(0, CFG.cardinality, (batch, CFG.num_codebooks), generator=gen)
        stream.step(user)
        tokens.append(stream.last_tokens.clone())
        text_logits.append(stream.last_logits[0].clone())
        audio_logits.append(stream.last_logits[1].clone())
    return stream, torch.stack(tokens, 1), torch.stack(text_logits, 1), torch.stack(audio_logits, 1)


@torch.no_grad()
def teacher_forced(hf, tokens: torch.Tensor, context: int):
    """The reference's logits for token rows [T, 1+2K] of one slot: text [T,V] and depth [T,K,card]."""
    T, K = tokens.shape[0], CFG.num_codebooks
    pos = torch.arange(T)
    window = (pos[None, :] <= pos[:, None]) & (pos[None, :] > pos[:, None] - context)
    out = hf(input_ids=tokens[None, :, 0], moshi_audio_codes=tokens.T[None, 1:K + 1],
             user_audio_codes=tokens.T[None, K + 1:], attention_mask=window[None, None], return_dict=True)
    text_logits = out.logits[0]
    hidden = out.last_hidden_state[0]
    # depth inputs: the text token chosen at this frame, then codebooks 0..K-2 chosen at this frame
    chosen_text = text_logits.argmax(-1)
    return text_logits, hidden, chosen_text


@torch.no_grad()
def depth_reference(hf, chosen_text, chosen_codes, hidden):
    K = CFG.num_codebooks
    ids = torch.cat([chosen_text[:, None], chosen_codes[:, : K - 1]], 1)
    out = hf.depth_decoder(input_ids=ids, last_hidden_state=hidden[:, None].expand(-1, K, -1),
                           attention_mask=torch.ones_like(ids))
    return out.logits


def test_stream_equals_transformers_over_600_frames_and_12_ring_wraps(reference):
    hf, path = reference
    model = load_model(str(path))
    assert model.cfg.context == CFG.context == 48
    frames = 600
    stream, tokens, text_logits, audio_logits = run_greedy(model, frames)
    for slot in range(tokens.shape[0]):
        ref_text, hidden, chosen = teacher_forced(hf, tokens[slot], CFG.context)
        torch.testing.assert_close(text_logits[slot], ref_text, rtol=1e-4, atol=1e-4)
        assert torch.equal(text_logits[slot].argmax(-1), chosen)
        codes = audio_logits[slot].argmax(-1)  # greedy: what our depth transformer chose
        ref_audio = depth_reference(hf, chosen, codes, hidden)
        torch.testing.assert_close(audio_logits[slot], ref_audio, rtol=1e-4, atol=1e-4)
        assert torch.equal(codes, ref_audio.argmax(-1))
        # the tokens a frame reads are the previous frame's choices (after the delays' first frames)
        assert torch.equal(tokens[slot, 1:, 0], chosen[:-1])
        assert torch.equal(tokens[slot, 2:, 1 + 1:CFG.num_codebooks + 1], codes[1:-1, 1:])
    assert len(torch.unique(tokens[0, :, 1])) > 8  # the agent's codes vary: the comparison is not of a constant


def test_past_4096_frames_constant_memory_and_exact_after_wraparound(reference):
    """A session longer than Moshi's own 4096-step cap: the stream's state never grows, and the
    attention at positions past 4096 still equals the reference's over the sliding window."""
    hf, path = reference
    model = load_model(str(path))
    stream = model.stream(1)
    stream.configure(0, GREEDY)
    before = stream.state_nbytes()
    gen = torch.Generator().manual_seed(2)
    tokens, logits = [], []
    for t in range(4200):
        stream.step(torch.randint(0, CFG.cardinality, (1, CFG.num_codebooks), generator=gen))
        tokens.append(stream.last_tokens[0].clone())
        logits.append(stream.last_logits[0][0].clone())
        assert stream.state_nbytes() == before
    ref_text, _, _ = teacher_forced(hf, torch.stack(tokens), CFG.context)
    late = slice(4096, 4200)
    torch.testing.assert_close(torch.stack(logits)[late], ref_text[late], rtol=1e-4, atol=1e-4)
    assert int(stream.cache.pos[0]) == 4200


def test_reset_slot_replays_a_fresh_stream(reference):
    _, path = reference
    model = load_model(str(path))
    _, tokens, text_logits, _ = run_greedy(model, 60, batch=1, seed=5)
    stream, _, _, _ = run_greedy(model, 30, batch=2, seed=9)
    stream.reset([1])
    stream.configure(1, GREEDY)
    gen = torch.Generator().manual_seed(5)
    for t in range(60):
        user = torch.randint(0, CFG.cardinality, (1, CFG.num_codebooks), generator=gen)
        stream.step(torch.cat([torch.zeros_like(user), user]), torch.tensor([False, True]))
        assert torch.equal(stream.last_tokens[1], tokens[0, t])
        torch.testing.assert_close(stream.last_logits[0][1], text_logits[0, t])
