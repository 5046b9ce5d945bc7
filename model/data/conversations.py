"""Two-channel conversations at the codec frame rate, assembled from tokenized utterances.

The user speaks; after a short natural gap the agent answers; while it listens the agent is silent
(pad text, silent audio). Some conversations have several exchanges, and in some the user talks
over the agent, which stops within a few frames.

Conversations are put together from codec tokens, not audio: each question (per user voice) and
each answer is rendered and encoded once, with silence before it, and a conversation places them on
frame boundaries. So the training data is as varied as the random draws (which question, which
gap, where a barge-in falls), at the cost of encoding the utterances once. The codec is causal, so
an utterance's codes do not depend on what comes after it. Its encoder has memory (an LSTM): after
speech it settles, within about 20 frames, into codes of silence that differ from those of a
fresh stream. So each utterance keeps a tail of frames past its speech, and a channel holds its
last utterance's final codes until the next one starts, as it would when encoded whole.
"""
from __future__ import annotations

import dataclasses
import random

import numpy as np

from ..tokenizer import ByteTokenizer
from .utterances import TEXT_LEAD

BARGE_IN_STOP = (1, 3)  # frames after the user starts talking over it that the agent is silent
# Seconds from the end of the user's speech to the agent's first sound. Natural turn-taking is about
# 200 ms; the streaming path adds one to two frames before that sound reaches the user, so the
# agent learns the short end, which puts the heard gap (eval's response latency) under 300 ms.
AGENT_GAP = (0.1, 0.2)
FIRST_QUESTION = (0.2, 1.0)  # seconds of silence before the user first speaks
NEXT_QUESTION = (0.3, 1.5)  # seconds after an answer before the next question


@dataclasses.dataclass
class TokenBank:
    """Tokenized utterances. Codes are int [K, n], starting on the frame where the utterance
    starts and running on past its end until the encoder has settled."""
    silence: np.ndarray  # [K]: the codes of a fresh stream's silence
    questions: list[np.ndarray]
    speech_frames: list[int]  # frames of each question that hold speech (the rest is its tail)
    answer_of: list[int]  # question -> index into answers
    answers: list[np.ndarray]
    answer_speech_frames: list[int]
    answer_texts: list[np.ndarray]  # aligned text, index i = frame i - TEXT_LEAD of the answer
    answer_words: list[int]  # how many words each answer has
    frame_rate: float
    # per question, (word id, frame) for each word the user says: the frame after the one its
    # sound ends in (relative to the question's first frame); training's word-recognition target
    heard: list[list[tuple[int, int]]] = dataclasses.field(default_factory=list)

    def frames(self, seconds: tuple[float, float]) -> tuple[int, int]:
        return int(seconds[0] * self.frame_rate), int(seconds[1] * self.frame_rate)


@dataclasses.dataclass
class Turn:
    question: int
    user_start: int  # frames
    agent_start: int
    agent_end: int  # where the agent's speech ends (earlier than planned if interrupted)
    interrupted: bool = False

    def text_start(self) -> int:
        return max(self.agent_start - TEXT_LEAD, 0)


@dataclasses.dataclass
class Conversation:
    text: np.ndarray  # int64 [T]: byte tokens, PAD where the agent says nothing new
    user: np.ndarray  # int64 [K, T]
    agent: np.ndarray  # int64 [K, T]
    turns: list[Turn]

    def answer_starts(self) -> list[int]:
        """The frame where each answer's text begins; an answer's text lies between its start and
        the next answer's."""
        return [t.text_start() for t in self.turns]


def _answer_frames(bank: TokenBank, answer: int) -> int:
    """Frames an answer occupies: its speech, or its text if that runs longer."""
    return max(bank.answer_speech_frames[answer], len(bank.answer_texts[answer]) - TEXT_LEAD)


def assemble(bank: TokenBank, frames: int, rng: random.Random, barge_in: float = 0.15,
             agent_gap: tuple[float, float] = AGENT_GAP) -> Conversation:
    """A conversation of exactly `frames` frames from random questions of the bank, deterministic
    under the state of `rng`; each answer starts `agent_gap` seconds (drawn) after its question."""
    user = np.repeat(bank.silence[:, None].astype(np.int64), frames, axis=1)
    agent = user.copy()
    text = np.full(frames, ByteTokenizer.PAD, np.int64)
    gap = bank.frames(agent_gap)
    turns: list[Turn] = []
    at = rng.randint(*bank.frames(FIRST_QUESTION))
    pending = None  # (question, onset) of a question that talked over the agent
    tries = 0
    while True:
        if pending:
            q, at = pending
            pending = None
        else:
            q = rng.randrange(len(bank.questions))
        a = bank.answer_of[q]
        a_start = at + bank.speech_frames[q] + rng.randint(*gap)
        if a_start + _answer_frames(bank, a) > frames:
            # Only whole exchanges: a question is never left without its answer. A shorter one
            # may still fit, so a conversation is not left empty by one long question.
            tries += 1
            if tries < 4:
                continue
            break
        _put(user, bank.questions[q], at)
        turn = Turn(q, at, a_start, a_start + bank.answer_speech_frames[a])
        # Barge-in: the next question starts while the agent is still talking, and the agent
        # stops within a few frames. Only when that question and its answer fit too.
        if bank.answer_words[a] >= 2 and rng.random() < barge_in:
            nxt = rng.randrange(len(bank.questions))
            spoken = turn.agent_end - a_start
            onset = a_start + rng.randint(5, max(6, spoken - 5))
            stop = onset + rng.randint(*BARGE_IN_STOP)
            if stop < turn.agent_end and onset + bank.speech_frames[nxt] + gap[1] + \
                    _answer_frames(bank, bank.answer_of[nxt]) <= frames:
                turn.agent_end, turn.interrupted = stop, True
                pending = (nxt, onset)
        codes = bank.answers[a]
        if turn.interrupted:  # cut off, then the answer's settled silence
            codes = np.concatenate([codes[:, : turn.agent_end - a_start], codes[:, -1:]], axis=1)
        _put(agent, codes, a_start)
        said = bank.answer_texts[a]
        if turn.interrupted:  # the text stops where the audio stops
            said = said[: turn.agent_end - a_start + TEXT_LEAD]
        start = a_start - TEXT_LEAD
        text[max(start, 0): start + len(said)] = said[max(-start, 0):]
        turns.append(turn)
        if not pending:
            at = turn.agent_end + rng.randint(*bank.frames(NEXT_QUESTION))
    return Conversation(text, user, agent, turns)


def _put(channel: np.ndarray, codes: np.ndarray, at: int) -> None:
    """Codes from frame `at`, and their last frame held to the end (until the next utterance)."""
    n = min(codes.shape[1], channel.shape[1] - at)
    channel[:, at: at + n] = codes[:, :n]
    channel[:, at + n:] = codes[:, -1:]
