"""`antiphon eval --voices FAMILY,...`: the held-out questions spoken whole by other synthesizers
(model/data/synthesizers.py), with the accuracy per family and per family and intent."""
from __future__ import annotations

import collections
import random

import numpy as np

from antiphon.model.data import INTENTS, sample_exchange
from antiphon.model.data.synthesizers import SynthVoice, family_voices, render_sentence

from .exchange import LEAD_S, LEVEL, TAIL_S
from .records import Question

SORRY = "sorry i did not understand"


def questions(rate: int, frame_size: int, per_intent: int, seed: int, families: list[str],
              paraphrases: str = "eval") -> list[Question]:
    """per_intent questions per intent in each family, the voices of a family taken in turn."""
    rng = random.Random(seed)
    out = []
    for family in families:
        voices = family_voices([family])
        for i in range(per_intent):
            for intent in INTENTS:
                ex = sample_exchange(rng, paraphrases, intent.name)
                out.append(spoken(ex, voices[(i * len(INTENTS) + len(out)) % len(voices)], rate, frame_size))
    return out


def spoken(ex, voice: SynthVoice, rate: int, frame_size: int) -> Question:
    """The exchange's question spoken whole by `voice`, at the evaluation's level and margins."""
    lead = int(LEAD_S * rate) // frame_size * frame_size
    pcm = render_sentence(ex.user, voice, rate)
    pcm = pcm / max(float(np.abs(pcm).max()), 1e-6) * LEVEL
    audio = np.concatenate([np.zeros(lead, np.float32), pcm, np.zeros(int(TAIL_S * rate), np.float32)])
    return Question(ex.intent, ex.user, ex.agent, voice.key(), audio.astype(np.float32),
                    (lead, lead + len(pcm)), voice.family)


def summary(qs: list[Question], heard: list[str | None]) -> dict:
    """Per family: accuracy, accuracy by intent, and the share of wrong answers that say 'sorry'
    (an agent unsure should say so rather than answer something else)."""
    out = {}
    for family in dict.fromkeys(q.family for q in qs):
        pairs = [(q, h) for q, h in zip(qs, heard) if q.family == family]
        by_intent = collections.defaultdict(list)
        for q, h in pairs:
            by_intent[q.intent].append(h == q.expected)
        wrong = [h for q, h in pairs if h != q.expected]
        out[family] = {"questions": len(pairs), "accuracy": float(np.mean([h == q.expected for q, h in pairs])),
                       "sorry_share_of_wrong": (sum(h == SORRY for h in wrong) / len(wrong)) if wrong else None,
                       "accuracy_by_intent": {k: float(np.mean(v)) for k, v in sorted(by_intent.items())}}
    return out


def markdown(by_family: dict) -> list[str]:
    lines = ["", "| voice family | questions | accuracy | wrong answers that are 'sorry' |", "|---|---|---|---|"]
    for family, f in by_family.items():
        sorry = "n/a" if f["sorry_share_of_wrong"] is None else f"{f['sorry_share_of_wrong']:.0%}"
        lines.append(f"| {family} | {f['questions']} | {f['accuracy']:.1%} | {sorry} |")
    intents = sorted({i for f in by_family.values() for i in f["accuracy_by_intent"]})
    lines += ["", "| intent | " + " | ".join(by_family) + " |", "|---|" + "---|" * len(by_family)]
    for intent in intents:
        cells = [f"{f['accuracy_by_intent'].get(intent, float('nan')):.0%}" for f in by_family.values()]
        lines.append(f"| {intent} | " + " | ".join(cells) + " |")
    return lines
