"""Two-channel conversations at the codec frame rate: the user's channel, the agent's channel, and
the agent's text stream aligned to its audio word by word.

The user speaks; after a short natural gap the agent answers; while it listens the agent is silent
(pad text, silent audio). Some conversations have several exchanges, and in some the user talks
over the agent, which stops within a few frames.
"""
from __future__ import annotations

import dataclasses
import random

import numpy as np

from ..tokenizer import ByteTokenizer
from .augment import augment
from .skills import Exchange, sample_exchange, vocabulary
from .speech import AGENT_VOICE, Voice, WordBank

TEXT_LEAD = 1  # frames the text of a word comes before its audio: the word is "thought" first
AGENT_WORD_GAP = 0.06  # seconds between the agent's words: one steady voice
BARGE_IN_STOP = (1, 3)  # frames after the user starts talking over it that the agent is silent
# Seconds from the end of the user's speech to the agent's first sound. Natural turn-taking is about
# 200 ms; the streaming path adds one to two frames before that sound reaches the user, so the
# agent learns the short end, which puts the heard gap (eval's response latency) under 300 ms.
AGENT_GAP = (0.1, 0.2)


@dataclasses.dataclass
class Turn:
    exchange: Exchange
    user_start: int  # samples
    user_end: int
    agent_start: int
    agent_end: int  # where the agent's audio ends (earlier than planned if interrupted)
    interrupted: bool = False


@dataclasses.dataclass
class Conversation:
    user: np.ndarray  # float32 [frames * frame_size], augmented
    agent: np.ndarray  # float32, clean agent voice
    text: np.ndarray  # int64 [frames]: byte tokens, PAD where the agent says nothing new
    turns: list[Turn]

    def answer_starts(self, frame_size: int) -> list[int]:
        """The frame where each answer's text begins; an answer's text lies between its start and
        the next answer's."""
        return [max(t.agent_start // frame_size - TEXT_LEAD, 0) for t in self.turns]


class ConversationMaker:
    def __init__(self, rate: int, frame_size: int, bank: WordBank | None = None):
        self.rate, self.frame_size = rate, frame_size
        self.bank = bank or WordBank(rate)
        self.words = vocabulary()
        self.tok = ByteTokenizer()

    def _seconds(self, rng: random.Random, lo: float, hi: float) -> int:
        return int(rng.uniform(lo, hi) * self.rate)

    def user_utterance(self, text: str, voice: Voice, rng: random.Random):
        gaps = [self._seconds(rng, 0.02, 0.12) for _ in text.split()]
        return self.bank.say(text, voice, self.words, gaps)

    def agent_utterance(self, text: str):
        gaps = [int(AGENT_WORD_GAP * self.rate)] * len(text.split())
        return self.bank.say(text, AGENT_VOICE, self.words, gaps)

    def make(self, frames: int, voice: Voice, split: str, seed: int, barge_in: float = 0.15,
             first_intent: str | None = None) -> Conversation:
        """A conversation of exactly `frames` frames, deterministic under `seed`."""
        rng = random.Random(seed)
        n = frames * self.frame_size
        user, agent = np.zeros(n, np.float32), np.zeros(n, np.float32)
        text = np.full(frames, self.tok.PAD, np.int64)
        spans: list[tuple[str, int]] = []  # (word, start sample) of what the agent said
        turns: list[Turn] = []
        at = self._seconds(rng, 0.2, 1.0)
        pending = None  # (exchange, pcm, onset) of a question that talked over the agent
        tries = 0
        while True:
            if pending:
                ex, u_pcm, at = pending
                pending = None
            else:
                ex = sample_exchange(rng, split, intent=first_intent if not turns else None)
                u_pcm, _ = self.user_utterance(ex.user, voice, rng)
            a_pcm, a_words = self.agent_utterance(ex.agent)
            a_start = at + len(u_pcm) + self._seconds(rng, *AGENT_GAP)
            if a_start + len(a_pcm) > n:
                # Only whole exchanges: a question is never left without its answer. A shorter
                # one may still fit, so a conversation is not left empty by one long question.
                tries += 1
                if tries < 4:
                    continue
                break
            user[at: at + len(u_pcm)] += u_pcm
            turn = Turn(ex, at, at + len(u_pcm), a_start, a_start + len(a_pcm))
            # Barge-in: the next question starts while the agent is still talking, and the agent
            # stops within a few frames. Only when that question and its answer fit too.
            if len(a_words) >= 2 and rng.random() < barge_in:
                nxt = sample_exchange(rng, split)
                nxt_pcm, _ = self.user_utterance(nxt.user, voice, rng)
                onset = a_start + self._seconds(rng, 0.2, max(0.25, len(a_pcm) / self.rate - 0.2))
                stop = (onset // self.frame_size + rng.randint(*BARGE_IN_STOP)) * self.frame_size
                answer_len = len(self.agent_utterance(nxt.agent)[0])
                if stop < turn.agent_end and onset + len(nxt_pcm) + int(AGENT_GAP[1] * self.rate) + answer_len <= n:
                    fade = min(self.rate // 100, stop - a_start)
                    a_pcm = a_pcm[: stop - a_start].copy()
                    a_pcm[len(a_pcm) - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
                    a_words = [w for w in a_words if w[1] < len(a_pcm)]
                    turn.agent_end, turn.interrupted = stop, True
                    pending = (nxt, nxt_pcm, onset)
            agent[a_start: a_start + len(a_pcm)] += a_pcm
            spans += [(w, a_start + s) for w, s, _ in a_words]
            turns.append(turn)
            if not pending:
                at = turn.agent_end + self._seconds(rng, 0.3, 1.5)
        self._write_text(text, spans, [t for t in turns if t.interrupted])
        np_rng = np.random.default_rng(seed)
        return Conversation(augment(user, self.rate, np_rng) if user.any() else user, agent, text, turns)

    def _write_text(self, text: np.ndarray, spans, interrupted: list[Turn]) -> None:
        """Each word's bytes and a space from TEXT_LEAD frames before its audio; a word that has
        no room left before the next one is cut, and an interrupted answer's text stops where its
        audio stops."""
        cursor = 0
        for i, (word, start) in enumerate(spans):
            f = max(start // self.frame_size - TEXT_LEAD, cursor)
            limit = len(text) if i + 1 == len(spans) else max(spans[i + 1][1] // self.frame_size - TEXT_LEAD, f)
            for t in interrupted:
                if t.agent_start <= start < t.agent_end:
                    limit = min(limit, t.agent_end // self.frame_size)
            toks = self.tok.encode(word + " ")[: max(limit - f, 0)]
            text[f: f + len(toks)] = toks
            cursor = f + len(toks)
