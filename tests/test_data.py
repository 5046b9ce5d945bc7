"""The synthetic conversations: determinism, word alignment, barge-in, and the held-out split.

Conversations are assembled from tokenized utterances; these tests tokenize with a real codec of the
tiny config (random weights: what is checked is where codes go, not how they sound)."""
import random

import numpy as np
import pytest

from antiphon.codec import load_codec
from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint
from antiphon.model.data import (INTENTS, UtteranceMaker, WordBank, all_answers, answer, assemble, sample_exchange, user_voices,
                        vocabulary)
from antiphon.model.data.augment import tape_speed
from antiphon.model.data.conversations import AGENT_GAP, BARGE_IN_STOP
from antiphon.model.data.speech import AGENT_VOICE, EVAL_VARIANTS, TRAIN_VARIANTS
from antiphon.model.data.utterances import TEXT_LEAD
from antiphon.model.tokenizer import ByteTokenizer
from antiphon.model.train import lm_data
from antiphon.model.train.lm_recipe import answer_spans, silence_codes

RATE, FRAME = 16000, 640


@pytest.fixture(scope="module")
def cache(tmp_path_factory, monkeypatch_module):
    path = tmp_path_factory.mktemp("antiphon-cache")
    monkeypatch_module.setenv("ANTIPHON_CACHE", str(path))
    return path


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def maker(cache):
    return UtteranceMaker(RATE, FRAME, WordBank(RATE, cache / "speech"))


@pytest.fixture(scope="module")
def codec_dir(cache):
    return save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=0), CODEC_CONFIGS["tiny"], cache / "codec")


@pytest.fixture(scope="module")
def bank(codec_dir, cache):
    codec = load_codec(codec_dir)
    assert (codec.sample_rate, codec.frame_size) == (RATE, FRAME)
    return lm_data.build_bank(codec, codec_dir, silence_codes(codec).numpy(), 8, 0, 3, "train", cache / "data",
                              show=False)


def test_same_seed_same_bank_and_conversation_other_seed_differs(bank, codec_dir, tmp_path, monkeypatch):
    a, b = assemble(bank, 200, random.Random(7)), assemble(bank, 200, random.Random(7))
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("text", "user", "agent"))
    c = assemble(bank, 200, random.Random(8))
    assert not np.array_equal(a.user, c.user)
    # Rendered again by espeak-ng and encoded again (a fresh cache), the bank is the same.
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    codec = load_codec(codec_dir)
    again = lm_data.build_bank(codec, codec_dir, bank.silence, 8, 0, 3, "train", tmp_path / "data", show=False)
    assert len(again.questions) == len(bank.questions) == 24
    assert all(np.array_equal(x, y) for x, y in zip(again.questions + again.answers, bank.questions + bank.answers))


def test_an_utterance_encodes_the_same_alone_or_beside_a_longer_one(codec_dir):
    """Utterances are encoded in padded batches; the codec is causal, so padding after one must not
    change its codes."""
    codec = load_codec(codec_dir)
    encode = lm_data.Float32Encoder(codec)
    rng = np.random.default_rng(0)
    short, long = rng.standard_normal(5000).astype(np.float32) * .1, rng.standard_normal(30000).astype(np.float32) * .1
    alone, frames = lm_data.encode_utterances(encode, [short], [100], FRAME, None, RATE)
    both, _ = lm_data.encode_utterances(encode, [short, long], [100, 7], FRAME, None, RATE)
    assert frames == [-(-5100 // FRAME)] and alone[0].shape[1] == frames[0] + lm_data.TAIL
    assert np.array_equal(alone[0], both[0])


def _words_in_text(text):
    """(word, first index) runs of non-pad bytes in a text stream."""
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


def test_answer_text_is_aligned_to_its_audio_word_by_word(maker):
    checked = 0
    for said in all_answers():
        pcm, spans = maker.agent_utterance(said)
        text = maker.answer_text(spans)
        words = _words_in_text(text)
        assert [w for w, _ in words] == said.split()
        for (word, index), (_, start, _) in zip(words, spans):
            # The word's audio begins at `start` (silence just before it); its text begins TEXT_LEAD
            # frames earlier, or up to TEXT_LEAD frames later while the previous word's bytes are written.
            assert np.abs(pcm[start: start + 400]).max() > 1e-3 and not pcm[max(start - 160, 0): start].any()
            frame = index - TEXT_LEAD
            assert start // FRAME - TEXT_LEAD <= frame <= start // FRAME, (word, frame, start // FRAME)
            checked += 1
    assert checked > 100


def _agent_after(bank, turn, frames: int) -> np.ndarray:
    """What the agent's channel holds after an answer starts: its codes (cut where it was
    interrupted), then its last frame held."""
    codes = bank.answers[bank.answer_of[turn.question]]
    if turn.interrupted:
        codes = np.concatenate([codes[:, : turn.agent_end - turn.agent_start], codes[:, -1:]], axis=1)
    pad = max(frames - codes.shape[1], 0)
    return np.concatenate([codes, np.repeat(codes[:, -1:], pad, axis=1)], axis=1)[:, :frames]


def _check_turns(bank, conv, agent_gap=AGENT_GAP):
    """Where every turn's codes and text lie; returns how many turns were interrupted."""
    interrupted = 0
    T = conv.text.shape[0]
    for i, turn in enumerate(conv.turns):
        nxt = conv.turns[i + 1] if i + 1 < len(conv.turns) else None
        q, a = turn.question, bank.answer_of[turn.question]
        speech = bank.speech_frames[q]
        n = min(bank.questions[q].shape[1], (nxt.user_start if nxt else T) - turn.user_start, T - turn.user_start)
        assert np.array_equal(conv.user[:, turn.user_start: turn.user_start + n], bank.questions[q][:, :n])
        # the agent answers after a short gap, in full unless talked over
        gap = turn.agent_start - (turn.user_start + speech)
        assert int(agent_gap[0] * bank.frame_rate) <= gap <= int(agent_gap[1] * bank.frame_rate)
        until = nxt.agent_start if nxt else T
        assert np.array_equal(conv.agent[:, turn.agent_start: until], _agent_after(bank, turn, until - turn.agent_start))
        assert turn.interrupted or turn.agent_end - turn.agent_start == bank.answer_speech_frames[a]
        # while the user asks, the agent's channel holds its last answer's tail or a fresh stream's silence
        asking = conv.agent[:, turn.user_start: turn.agent_start]
        if i == 0:
            assert (asking == bank.silence[:, None]).all()
        else:
            prev = conv.turns[i - 1]
            assert np.array_equal(asking, _agent_after(bank, prev, turn.agent_start - prev.agent_start)
                                  [:, turn.user_start - prev.agent_start:])
            assert prev.interrupted or turn.user_start >= prev.agent_end  # talks over the agent only to interrupt
        if turn.interrupted:
            interrupted += 1
            assert nxt is not None and nxt.user_start < turn.agent_start + bank.answer_speech_frames[a]
            assert BARGE_IN_STOP[0] <= turn.agent_end - nxt.user_start <= BARGE_IN_STOP[1]
            assert (conv.text[turn.agent_end: nxt.agent_start - TEXT_LEAD] == ByteTokenizer.PAD).all()
    assert not conv.turns[-1].interrupted  # the last question is answered, not cut off
    return interrupted


def test_conversations_place_questions_answers_and_text(bank):
    turns = interrupted = 0
    for seed in range(40):
        conv = assemble(bank, 300, random.Random(seed), barge_in=0.5)
        assert conv.user.shape == conv.agent.shape == (bank.silence.shape[0], 300) and conv.text.shape == (300,)
        assert conv.turns and conv.turns[-1].agent_end <= 300
        interrupted += _check_turns(bank, conv)
        turns += len(conv.turns)
    assert turns > 60 and interrupted > 3


def test_conversations_answer_after_the_gap_asked_for(bank):
    """`--agent-gap`: a shorter gap than the default, every frame count in it drawn, and the rest of
    each conversation laid out as with the default."""
    gaps = set()
    for seed in range(20):
        conv = assemble(bank, 300, random.Random(seed), barge_in=0.5, agent_gap=(0.04, 0.08))
        _check_turns(bank, conv, (0.04, 0.08))
        gaps |= {t.agent_start - t.user_start - bank.speech_frames[t.question] for t in conv.turns}
    assert gaps == {1, 2}  # 40 and 80 ms at 25 frames a second; the default never answers after 1 frame


def test_answer_spans_find_each_answer_in_the_text_stream(bank):
    """The training log's exact-answer score splits the text stream at the stored answer starts;
    each span must hold exactly one turn's answer, interrupted ones cut where the agent stopped."""
    answers = all_answers()
    held = lm_data.conversations(bank, 1, 300, random.Random(1), barge_in=0.5)
    checked = interrupted = 0
    for seed in range(40):
        conv = assemble(bank, 300, random.Random(seed), barge_in=0.5)
        spans = answer_spans(conv.answer_starts() + [-1, -1], len(conv.text))
        said = [bytes(t for t in conv.text[s].tolist() if t != ByteTokenizer.PAD).decode().strip() for s in spans]
        assert len(said) == len(conv.turns)
        for got, turn in zip(said, conv.turns):
            planned = answers[bank.answer_of[turn.question]]
            if turn.interrupted:
                interrupted += 1
                assert got and planned.startswith(got.rsplit(" ", 1)[0]), (got, planned)
            else:
                assert got == planned, (said, planned)
            checked += 1
    assert checked > 60 and interrupted > 3
    # the batch form keeps the same starts, padded with -1
    first = assemble(bank, 300, random.Random(1), barge_in=0.5)
    row = held["answer_starts"][0].tolist()
    assert row[: len(first.turns)] == first.answer_starts() and set(row[len(first.turns):]) <= {-1}
    # and marks where the agent speaks (the frames its first-codebook accuracy is scored on)
    spoken = [f for t in first.turns for f in range(t.agent_start, t.agent_end)]
    assert held["speaking"][0].nonzero().flatten().tolist() == spoken


def test_word_targets_name_each_word_the_user_said_on_the_frame_after_its_sound(bank, maker):
    """Training's word head is taught, for every question, each word on the frame after the one its
    sound ends in, whether the shard was encoded with them or they were replayed into an old one."""
    words = vocabulary()
    rng = random.Random("0-train-0")  # voice 0's draws, as build_bank makes them
    asked, pcms, spans, shifts = lm_data._draw_questions(rng, maker, user_voices("train", 3, 0)[0], "train", 8, FRAME)
    for q, (ex, pcm, said, shift) in enumerate(zip(asked, pcms, spans, shifts)):
        heard = bank.heard[q]
        assert [words[w] for w, _ in heard] == ex.user.split()
        clip = np.concatenate([np.zeros(shift, np.float32), pcm])
        for (_, frame), (_, start, end) in zip(heard, said):
            # the label comes after the word's last sound, by at most two frames (espeak's audio is
            # cut 10 ms past its last loud sample)
            word = np.abs(clip[shift + start: shift + end])
            last = shift + start + int(np.flatnonzero(word > 0.01 * word.max())[-1])
            assert (frame - 2) * FRAME <= last < frame * FRAME, (frame, last / FRAME)
        assert [f for _, f in heard] == sorted(f for _, f in heard)
    # in an assembled batch the labels sit at each question's start plus its word frames
    held = lm_data.conversations(bank, 1, 300, random.Random(3), barge_in=0.5)
    conv = assemble(bank, 300, random.Random(3), barge_in=0.5)
    expected = {t.user_start + f: w for t in conv.turns for w, f in bank.heard[t.question] if t.user_start + f < 300}
    got = {i: int(w) for i, w in enumerate(held["heard"][0].tolist()) if w != lm_data.NO_WORD}
    assert got == expected and len(got) >= 3


def test_tape_speed_moves_pitch_tempo_and_word_spans_together(maker):
    tone = (0.5 * np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE)).astype(np.float32)
    fast, spans = tape_speed(tone, [("a", 0, RATE // 2), ("b", RATE // 2, RATE)], RATE, 1.25)
    assert abs(len(fast) - RATE / 1.25) <= 2
    assert abs(np.argmax(np.abs(np.fft.rfft(fast))) * RATE / len(fast) - 375) < 2  # 300 Hz, 1.25x faster
    assert spans == [("a", 0, 6400), ("b", 6400, len(fast))]
    # In drawn questions the same words are asked at other speeds, and each word's span still
    # holds its sound: the silence between words stays where the spans say it is.
    voice = user_voices("train", 3, 0)[0]
    plain = lm_data._draw_questions(random.Random(5), maker, voice, "train", 6, FRAME)
    taped = lm_data._draw_questions(random.Random(5), maker, voice, "train", 6, FRAME, tape=0.12)
    assert [ex.user for ex in plain[0]] == [ex.user for ex in taped[0]] and plain[3] == taped[3]
    ratios = [len(p) / len(t) for p, t in zip(plain[1], taped[1])]
    assert all(0.87 < r < 1.13 for r in ratios) and max(abs(r - 1) for r in ratios) > 0.01
    for pcm, said, before in zip(taped[1], taped[2], plain[2]):
        assert [w for w, _, _ in said] == [w for w, _, _ in before] and said[-1][2] == len(pcm)
        loud = 0.05 * np.abs(pcm).max()
        for (_, _, end), (_, start, _) in zip(said, said[1:]):
            gap = pcm[end + 2: start - 2]  # resampling rings for a sample or two
            assert gap.size and np.abs(gap).max() < loud


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




def test_backwards_questions_follow_the_bank_and_are_answered_sorry(codec_dir, tmp_path):
    """`backwards` adds that share of each voice's questions played backwards after the others,
    each answered "sorry i did not understand" with no word heard; the questions before them are
    the bank's without it."""
    codec = load_codec(codec_dir)
    silence = silence_codes(codec).numpy()
    plain = lm_data.build_bank(codec, codec_dir, silence, 4, 0, 2, "train", tmp_path / "a", show=False)
    back = lm_data.build_bank(codec, codec_dir, silence, 4, 0, 2, "train", tmp_path / "b", show=False, backwards=0.5)
    assert len(plain.questions) == 8 and len(back.questions) == 12
    assert all(np.array_equal(x, y) for x, y in zip(plain.questions, back.questions[:8]))
    assert back.answer_of[:8] == plain.answer_of and back.heard[:8] == plain.heard
    sorry = all_answers().index("sorry i did not understand")
    assert back.answer_of[8:] == [sorry] * 4 and back.heard[8:] == [[]] * 4
    assert not any(np.array_equal(x, y) for x in back.questions[8:] for y in plain.questions)
