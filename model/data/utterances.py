"""Single utterances: a user's question in a user voice, the agent's answer in the agent voice, and
the answer's text aligned to its audio word by word. Conversations are assembled from these after
the codec has tokenized each one once (model/data/conversations.py)."""
from __future__ import annotations

import random

import numpy as np

from ..tokenizer import ByteTokenizer
from .skills import vocabulary
from . import dectalk, flite
from .sentences import render_sentence, spoken_whole
from .speech import AGENT_VOICE, Voice, WordBank, user_voices

TEXT_LEAD = 1  # frames the text of a word comes before its audio: the word is "thought" first
AGENT_WORD_GAP = 0.06  # seconds between the agent's words: one steady voice


class UtteranceMaker:
    def __init__(self, rate: int, frame_size: int, bank: WordBank | None = None):
        self.rate, self.frame_size = rate, frame_size
        self.bank = bank or WordBank(rate)
        self.words = vocabulary()
        self.tok = ByteTokenizer()

    def user_utterance(self, text: str, voice: Voice | flite.FliteVoice | dectalk.DectalkVoice, rng: random.Random,
                       whole: bool = False):
        """(pcm, [(word, start, end)]): the words with 20-120 ms of silence between them, or with
        `whole` the sentence spoken at once (word ends by alignment; word by word where the text
        cannot be aligned to the audio). A flite or DECtalk voice always speaks whole sentences."""
        gaps = [int(rng.uniform(0.02, 0.12) * self.rate) for _ in text.split()]
        if isinstance(voice, (flite.FliteVoice, dectalk.DectalkVoice)):
            family = flite if isinstance(voice, flite.FliteVoice) else dectalk
            return spoken_whole(lambda t: family.speak(t, voice, self.rate), text, self.rate, gaps)
        if whole:
            try:
                return render_sentence(text, voice, self.rate)
            except ValueError:
                pass
        return self.bank.say(text, voice, self.words, gaps)

    def agent_utterance(self, text: str):
        gaps = [int(AGENT_WORD_GAP * self.rate)] * len(text.split())
        return self.bank.say(text, AGENT_VOICE, self.words, gaps)

    def answer_text(self, words: list[tuple[str, int, int]]) -> np.ndarray:
        """The text stream of an answer whose audio starts on a frame boundary: index i is frame
        i - TEXT_LEAD relative to that boundary. Each word's bytes and a space start TEXT_LEAD
        frames before its audio, or once the previous word's bytes are written; a word that has
        no room before the next word's start is cut."""
        out: list[int] = []
        for i, (word, start, _) in enumerate(words):
            at = max(start // self.frame_size, len(out))
            out += [ByteTokenizer.PAD] * (at - len(out))
            room = words[i + 1][1] // self.frame_size - at if i + 1 < len(words) else 1 << 30
            out += self.tok.encode(word + " ")[: max(room, 0)]
        return np.array(out, np.int64)


def held_out_speech(rate: int, seed: int, count: int = 8, agent: bool = False) -> np.ndarray:
    """(count, 2 s) float32: phrases of 5 random words in evaluation voices (never trained on), or
    new phrases in the agent's voice, for the STOI measures of the codec recipe and the eval."""
    bank, words = WordBank(rate), vocabulary()
    rng = random.Random(f"held-out-{seed}{'-agent' if agent else ''}")
    out = np.zeros((count, 2 * rate), np.float32)
    for i, voice in enumerate([AGENT_VOICE] * count if agent else user_voices("eval", count, seed)):
        text = " ".join(rng.choice(words) for _ in range(5))
        pcm, _ = bank.say(text, voice, words, [int(0.05 * rate)] * 5)
        pcm = pcm[: out.shape[-1]] / max(float(np.abs(pcm).max()), 1e-6) * 0.5
        out[i, : len(pcm)] = pcm
    return out
