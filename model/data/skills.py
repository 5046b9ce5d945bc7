"""The assistant's skill set: intents, the user's paraphrases, and the one answer each request gets.

Paraphrases are split once, by position, into those used for training and those kept aside for
evaluation, so that held-out phrasings are never seen in training.
"""
from __future__ import annotations

import dataclasses
import random

NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
           "nineteen", "twenty"]
SPELL_WORDS = ["cat", "dog", "sun", "box", "red", "cup", "hat", "pen"]


@dataclasses.dataclass(frozen=True)
class Exchange:
    intent: str
    user: str  # what the user says
    agent: str  # the answer, lower case words and spaces only


@dataclasses.dataclass(frozen=True)
class Intent:
    name: str
    train: tuple[str, ...]  # paraphrase templates for training; {a} {b} {n} {w} are slots
    held_out: tuple[str, ...]  # never seen in training

    def templates(self, split: str) -> tuple[str, ...]:
        if split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
        return self.train if split == "train" else self.held_out


INTENTS: tuple[Intent, ...] = (
    Intent("greeting", ("hello", "hi there", "good morning", "hey antiphon"), ("hello there", "good evening")),
    Intent("name", ("what is your name", "who are you", "tell me your name"), ("what are you called",)),
    Intent("how_are_you", ("how are you", "how are you doing", "how is it going"), ("are you doing well",)),
    Intent("abilities", ("what can you do", "how can you help me", "what are you good at"),
           ("what do you know how to do",)),
    Intent("add", ("what is {a} plus {b}", "add {a} and {b}", "{a} plus {b}"), ("how much is {a} plus {b}",)),
    Intent("subtract", ("what is {a} minus {b}", "take {b} from {a}", "{a} minus {b}"),
           ("how much is {a} minus {b}",)),
    Intent("multiply", ("what is {a} times {b}", "multiply {a} by {b}", "{a} times {b}"),
           ("how much is {a} times {b}",)),
    Intent("count", ("count to {n}", "please count to {n}", "count up to {n}"), ("can you count to {n}",)),
    Intent("spell", ("spell {w}", "how do you spell {w}", "spell the word {w}"), ("can you spell {w}",)),
    Intent("repeat", ("repeat {n}", "say {n}", "repeat the number {n}"), ("say the number {n} back",)),
    Intent("thanks", ("thank you", "thanks a lot", "thanks"), ("thank you very much",)),
    Intent("goodbye", ("goodbye", "bye now", "see you later"), ("talk to you later",)),
    Intent("unknown", ("the weather is purple", "bananas are yellow", "open the window please",
                       "my car is blue", "play some music", "where is the station"),
           ("the sky is falling", "bring me a pizza")),
)
INTENT_NAMES = tuple(i.name for i in INTENTS)


def _fill(intent: str, template: str, rng: random.Random) -> Exchange:
    a = b = n = 0
    word = ""
    if intent == "add":
        a, b = rng.randint(0, 10), rng.randint(0, 10)
    elif intent == "subtract":
        a = rng.randint(0, 10)
        b = rng.randint(0, a)
    elif intent == "multiply":
        a, b = rng.randint(0, 5), rng.randint(0, 4)
    elif intent == "count":
        n = rng.randint(2, 6)
    elif intent == "repeat":
        n = rng.randint(0, 20)
    elif intent == "spell":
        word = rng.choice(SPELL_WORDS)
    user = template.format(a=NUMBERS[a], b=NUMBERS[b], n=NUMBERS[n], w=word)
    return Exchange(intent, user, answer(intent, a=a, b=b, n=n, word=word))


def answer(intent: str, a: int = 0, b: int = 0, n: int = 0, word: str = "") -> str:
    """The agent's one answer to a request (numbers as ints, `word` for spelling)."""
    fixed = {
        "greeting": "hello how can i help",
        "name": "my name is antiphon",
        "how_are_you": "i am fine thank you",
        "abilities": "i can count add and spell",
        "thanks": "you are welcome",
        "goodbye": "goodbye see you soon",
        "unknown": "sorry i did not understand",
    }
    if intent in fixed:
        return fixed[intent]
    if intent == "add":
        return f"that is {NUMBERS[a + b]}"
    if intent == "subtract":
        return f"that is {NUMBERS[a - b]}"
    if intent == "multiply":
        return f"that is {NUMBERS[a * b]}"
    if intent == "count":
        return " ".join(NUMBERS[1:n + 1])
    if intent == "spell":
        return " ".join(word)
    if intent == "repeat":
        return NUMBERS[n]
    raise ValueError(f"unknown intent {intent!r}; known: {INTENT_NAMES}")


def all_answers() -> list[str]:
    """Every answer the agent can give (what the evaluation's recognizer may hear)."""
    out = {answer(i) for i in ("greeting", "name", "how_are_you", "abilities", "thanks", "goodbye", "unknown")}
    out |= {f"that is {w}" for w in NUMBERS}
    out |= {answer("count", n=n) for n in range(2, 7)}
    out |= {answer("spell", word=w) for w in SPELL_WORDS}
    out |= set(NUMBERS)
    return sorted(out)


def sample_exchange(rng: random.Random, split: str, intent: str | None = None) -> Exchange:
    spec = rng.choice(INTENTS) if intent is None else INTENTS[INTENT_NAMES.index(intent)]
    return _fill(spec.name, rng.choice(spec.templates(split)), rng)


def vocabulary() -> list[str]:
    """Every word a user or the agent can say (rendered once per voice)."""
    words: set[str] = set(NUMBERS) | set(SPELL_WORDS) | set("".join(SPELL_WORDS))
    for spec in INTENTS:
        for t in spec.train + spec.held_out:
            words |= {w for w in t.split() if not w.startswith("{")}
    for a in all_answers():
        words |= set(a.split())
    return sorted(words)
