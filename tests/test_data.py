"""The synthetic conversations: determinism, word alignment, barge-in, and the held-out split."""
import random

import numpy as np
import pytest

from model.data import INTENTS, ConversationMaker, WordBank, all_answers, answer, sample_exchange, user_voices
from model.data.conversations import AGENT_GAP, BARGE_IN_STOP, TEXT_LEAD
from model.data.speech import AGENT_VOICE, EVAL_VARIANTS, TRAIN_VARIANTS
from model.tokenizer import ByteTokenizer

RATE, FRAME = 16000, 640


@pytest.fixture(scope="module")
def maker(tmp_path_factory):
    return ConversationMaker(RATE, FRAME, WordBank(RATE, tmp_path_factory.mktemp("speech")))


def test_same_seed_same_conversation_other_seed_differs(maker):
    voice = user_voices("train", 2, seed=0)[0]
    a, b = maker.make(200, voice, "train", seed=7), maker.make(200, voice, "train", seed=7)
    assert np.array_equal(a.user, b.user) and np.array_equal(a.agent, b.agent) and np.array_equal(a.text, b.text)
    c = maker.make(200, voice, "train", seed=8)
    assert not np.array_equal(a.user, c.user)
    # From a fresh word bank (espeak-ng again, not the cache) the audio is the same.
    fresh = ConversationMaker(RATE, FRAME, WordBank(RATE, maker.bank.root / "again"))
    assert np.array_equal(fresh.make(200, voice, "train", seed=7).agent, a.agent)


def _words_in_text(text):
    """(word, first frame) runs of non-pad bytes in the text stream."""
    out, cur, start = [], [], None
    for f, t in enumerate(text.tolist() + [ByteTokenizer.PAD]):
        if t == ByteTokenizer.PAD or t == ord(" "):
            if cur:
                out.append((bytes(cur).decode(), start))
            cur, start = [], None
        else:
            start = f if start is None else start
            cur.append(t)
    return out


def test_text_is_aligned_to_the_agents_audio_word_by_word(maker):
    voice = user_voices("train", 3, seed=0)[1]
    checked = 0
    for seed in range(6):
        conv = maker.make(250, voice, "train", seed=seed, barge_in=0.0)
        words = _words_in_text(conv.text)
        said = " ".join(t.exchange.agent for t in conv.turns).split()
        assert [w for w, _ in words] == said
        starts = [turn.agent_start + s for turn in conv.turns
                  for _, s, _ in maker.agent_utterance(turn.exchange.agent)[1]]
        for (word, frame), start in zip(words, starts):
            # The word's audio begins at `start` (silence just before it), and its text begins
            # TEXT_LEAD frames earlier, or up to TEXT_LEAD frames later when the previous word's
            # bytes are still being written.
            assert np.abs(conv.agent[start: start + 400]).max() > 1e-3 and not conv.agent[start - 160: start].any()
            assert start // FRAME - TEXT_LEAD <= frame <= start // FRAME, (word, frame, start // FRAME)
            checked += 1
        for turn in conv.turns:  # the agent listens in silence while the user speaks
            assert not conv.agent[turn.user_start: turn.user_end].any()
            assert AGENT_GAP[0] * RATE <= turn.agent_start - turn.user_end <= AGENT_GAP[1] * RATE
    assert checked > 10


def test_agent_stops_within_a_few_frames_when_talked_over(maker):
    voice = user_voices("train", 3, seed=0)[2]
    found = 0
    for seed in range(40):
        conv = maker.make(250, voice, "train", seed=seed, barge_in=1.0)
        for turn, nxt in zip(conv.turns, conv.turns[1:]):
            if not turn.interrupted:
                continue
            found += 1
            onset_frame = nxt.user_start // FRAME
            assert nxt.user_start < turn.agent_start + len(maker.agent_utterance(turn.exchange.agent)[0])
            assert BARGE_IN_STOP[0] <= turn.agent_end // FRAME - onset_frame <= BARGE_IN_STOP[1]
            assert not conv.agent[turn.agent_end:nxt.agent_start].any()
            assert (conv.text[turn.agent_end // FRAME: nxt.agent_start // FRAME - TEXT_LEAD] == ByteTokenizer.PAD).all()
    assert found >= 3


def test_every_question_is_answered_in_full(maker):
    voice = user_voices("train", 3, seed=0)[0]
    for seed in range(30):
        conv = maker.make(200, voice, "train", seed=seed, barge_in=0.5)
        said = [w for w, _ in _words_in_text(conv.text)]
        planned = [w for t in conv.turns for w in t.exchange.agent.split()]
        for turn in conv.turns:
            assert turn.agent_end <= len(conv.agent)
            if not turn.interrupted:  # a whole answer, inside the conversation
                assert turn.agent_end - turn.agent_start == len(maker.agent_utterance(turn.exchange.agent)[0])
        assert not conv.turns[-1].interrupted  # the last question is answered, not cut off
        # words are whole, or cut where the agent was interrupted or the next word begins
        assert all(any(p.startswith(w) for p in planned) for w in said), (said, planned)


def test_held_out_voices_and_paraphrases_never_appear_in_training():
    assert not set(TRAIN_VARIANTS) & set(EVAL_VARIANTS)
    assert AGENT_VOICE.variant not in TRAIN_VARIANTS + EVAL_VARIANTS
    trained = set().union(*(intent.train_phrasings() for intent in INTENTS))
    for intent in INTENTS:
        assert len(intent.held_out) >= 2 and not trained & set(intent.held_out), intent.name
    train = {sample_exchange(random.Random(i), "train").user for i in range(3000)}
    held = {sample_exchange(random.Random(i), "eval").user for i in range(3000)}
    assert not train & held
    assert {v.variant for v in user_voices("eval", 20, 0)} <= set(EVAL_VARIANTS)


def test_answers_are_right_and_all_listed():
    assert answer("add", a=7, b=5) == "that is twelve"
    assert answer("subtract", a=9, b=4) == "that is five"
    assert answer("multiply", a=3, b=4) == "that is twelve"
    assert answer("count", n=3) == "one two three"
    assert answer("spell", word="cat") == "c a t"
    with pytest.raises(ValueError, match="unknown intent"):
        answer("weather")
    listed = set(all_answers())
    rng = random.Random(0)
    for _ in range(2000):
        ex = sample_exchange(rng, rng.choice(["train", "eval"]))
        assert ex.agent in listed, ex
    assert len(INTENTS) >= 12


def test_answer_spans_find_each_answer_in_the_text_stream(maker):
    """The training log's exact-answer score splits the text stream at the stored answer starts;
    each span must hold exactly one turn's answer, interrupted ones cut where the agent stopped."""
    from model.train.lm_recipe import answer_spans

    voice = user_voices("train", 3, seed=0)[1]
    checked = interrupted = 0
    for seed in range(40):
        conv = maker.make(200, voice, "train", seed=seed, barge_in=0.5)
        spans = answer_spans(conv.answer_starts(FRAME) + [-1, -1], len(conv.text))
        said = [bytes(t for t in conv.text[s].tolist() if t != ByteTokenizer.PAD).decode().strip() for s in spans]
        assert len(said) == len(conv.turns)
        for got, turn in zip(said, conv.turns):
            if turn.interrupted:
                interrupted += 1
                assert got and turn.exchange.agent.startswith(got.rsplit(" ", 1)[0]), (got, turn.exchange.agent)
            else:
                assert got == turn.exchange.agent, (said, [t.exchange.agent for t in conv.turns])
            checked += 1
    assert checked > 30 and interrupted > 2
