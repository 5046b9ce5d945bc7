"""The assistant's skill set: intents, the user's paraphrases, and the one answer each request gets.

Each intent has training cores, which training sentences wrap in optional openers and closers, and
whole held-out phrasings kept aside for evaluation, never produced in training.
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


# Words a user may put around a request. Training sentences wrap a request's core in these, so the
# model learns that the core carries the meaning; held-out sentences are whole phrasings that no
# wrapping of a training core produces (tests/test_data.py checks this by enumeration).
OPENERS = ("please", "okay", "hey", "so", "antiphon", "hey antiphon", "excuse me", "um", "now", "tell me", "well",
           "right", "listen", "oh", "hi", "hello antiphon", "quick question", "alright")
CLOSERS = ("please", "for me", "antiphon", "now", "okay", "thanks", "right now", "if you can")
OPENER_P, CLOSER_P = 0.45, 0.3

# Sentences outside the skill set: subjects x predicates, and requests the agent cannot serve.
_UNKNOWN_SUBJECTS = ("the weather", "my car", "the dog", "my friend", "the train", "this house", "the music",
                     "my sister", "the coffee", "the garden", "the bus", "my brother", "the window", "the cat",
                     "my phone", "the road")
_UNKNOWN_PREDICATES = ("is purple", "is very late", "looks happy", "was here yesterday", "is too loud",
                       "is broken", "is on the table", "smells good", "went home", "is wet", "needs a wash",
                       "was blue")
_UNKNOWN_REQUESTS = ("open the window", "play some music", "turn on the light", "where is the station",
                     "what time is it", "is it raining", "book a table", "call my sister", "bananas are yellow",
                     "i like green apples", "close the door", "find my keys", "buy some bread", "tell me a joke",
                     "send a message", "what is the capital of france", "water the plants", "i lost my hat",
                     "the soup is hot", "drive me home", "who won the game", "it is sunny today",
                     "it is warm in here", "set an alarm", "order a taxi", "how tall is the tower", "my feet hurt",
                     "read me the news", "the milk is cold", "paint the wall", "where are my shoes",
                     "the door is open", "can you cook dinner", "could you find a doctor")


@dataclasses.dataclass(frozen=True)
class Intent:
    name: str
    train: tuple[str, ...]  # request cores for training; {a} {b} {n} {w} are slots
    held_out: tuple[str, ...]  # whole phrasings never seen in training
    wrapped: bool = True  # whether training puts OPENERS and CLOSERS around the core
    weight: float = 1.0  # how often training draws it: requests with numbers to hear get more

    def sample(self, split: str, rng: random.Random) -> str:
        """A phrasing template of this intent from `split` ('train' or 'eval')."""
        if split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
        if split == "eval":
            return rng.choice(self.held_out)
        words = [rng.choice(self.train)]
        if self.wrapped and rng.random() < OPENER_P:
            words.insert(0, rng.choice(OPENERS))
        if self.wrapped and rng.random() < CLOSER_P:
            words.append(rng.choice(CLOSERS))
        return " ".join(words)

    def train_phrasings(self) -> set[str]:
        """Every template `sample('train')` can return."""
        if not self.wrapped:
            return set(self.train)
        return {" ".join(w for w in (o, core, c) if w)
                for core in self.train for o in ("",) + OPENERS for c in ("",) + CLOSERS}


INTENTS: tuple[Intent, ...] = (
    Intent("greeting", ("hello", "hi", "hi there", "hey there", "good morning", "good afternoon",
                        "hello antiphon", "hi antiphon", "hey antiphon", "hey", "good day", "hello again", "hi again",
                        "morning", "greetings", "hey hello", "well hello", "hello hello"),
           ("hello there", "good evening", "okay hi"), wrapped=False),
    Intent("name", ("what is your name", "who are you", "tell me your name", "your name", "what should i call you",
                    "what do people call you", "what are you", "may i know your name", "do you have a name",
                    "what name do you have", "tell me who you are", "say your name", "introduce yourself",
                    "who am i talking to", "who is this", "what is your name again", "can i have your name",
                    "what do you call yourself", "have you got a name", "and your name is",
                    "tell me what your name is"),
           ("what do i call you", "and who are you", "what are you called")),
    Intent("how_are_you", ("how are you", "how are you doing", "how is it going", "how do you feel",
                           "are you okay", "how are things", "how are you today", "are you well", "how do you do",
                           "are you alright", "how is life", "how have you been", "is everything okay",
                           "how is it going today", "how do you feel today", "you doing okay", "how is everything",
                           "how are you this morning", "is all well with you"),
           ("are you doing well", "how are you feeling", "how is your day")),
    Intent("abilities", ("what can you do", "how can you help me", "what are you good at", "what do you do",
                         "what are your skills", "what can you help me with", "what are you able to do",
                         "what skills do you have", "what can i ask you", "what are your abilities",
                         "show me what you can do", "what kind of things can you do", "what can you do for me",
                         "what help can you give", "what tasks can you do", "what are you for",
                         "would you tell me your skills"),
           ("what do you know how to do", "tell me what you can do", "how can you help")),
    Intent("add", ("what is {a} plus {b}", "add {a} and {b}", "{a} plus {b}", "what do you get from {a} plus {b}",
                   "calculate {a} plus {b}", "what does {a} plus {b} make", "what is the sum of {a} and {b}",
                   "{a} plus {b} is what", "add {b} to {a}", "give me {a} plus {b}", "{a} plus {b} equals what",
                   "what is {a} plus {b} equal to", "what do {a} and {b} add up to", "{a} and {b} added together",
                   "can you add {a} and {b}", "could you add {a} to {b}", "would you add {a} and {b}"),
           ("how much is {a} plus {b}", "what would {a} plus {b} be"), weight=2.0),
    Intent("subtract", ("what is {a} minus {b}", "take {b} from {a}", "{a} minus {b}", "calculate {a} minus {b}",
                        "what does {a} minus {b} make", "what do you get from {a} minus {b}", "{a} minus {b} is what",
                        "subtract {b} from {a}", "give me {a} minus {b}", "{a} minus {b} equals what",
                        "what is {a} minus {b} equal to", "{a} take away {b}", "what is {a} take away {b}",
                        "can you take {b} from {a}", "could you subtract {b} from {a}"),
           ("how much is {a} minus {b}", "what would {a} minus {b} be"), weight=2.0),
    Intent("multiply", ("what is {a} times {b}", "multiply {a} by {b}", "{a} times {b}", "calculate {a} times {b}",
                        "what does {a} times {b} make", "what do you get from {a} times {b}", "{a} times {b} is what",
                        "what is {a} multiplied by {b}", "give me {a} times {b}", "{a} times {b} equals what",
                        "what is {a} times {b} equal to", "{a} multiplied by {b}",
                        "what is the product of {a} and {b}",
                        "can you multiply {a} by {b}", "could you multiply {a} and {b}"),
           ("how much is {a} times {b}", "what would {a} times {b} be"), weight=2.0),
    Intent("count", ("count to {n}", "count up to {n}", "count from one to {n}", "start counting to {n}",
                     "let us count to {n}", "i want you to count to {n}", "count for me to {n}", "go count to {n}",
                     "count all the way to {n}", "count slowly to {n}", "count from one up to {n}",
                     "i would like you to count to {n}", "count to the number {n}", "would you count to {n}",
                     "will you count up to {n}", "count until {n}", "say the numbers up to {n}",
                     "count from one until {n}", "do a count to {n}"),
           ("can you count to {n}", "could you count up to {n}")),
    Intent("spell", ("spell {w}", "how do you spell {w}", "spell the word {w}", "spell out {w}",
                     "what is the spelling of {w}", "give me the spelling of {w}", "what are the letters of {w}",
                     "how do i spell {w}", "i need the spelling of {w}", "spell the word {w} for me",
                     "letters in {w}", "spell {w} letter by letter", "would you spell {w}",
                     "tell me how to spell {w}", "what letters make {w}", "how is the word {w} written",
                     "spell for me the word {w}", "the spelling of {w}"),
           ("can you spell {w}", "how is {w} spelled", "spell out the word {w}"), weight=1.5),
    Intent("repeat", ("repeat {n}", "say {n}", "repeat the number {n}", "say the number {n}",
                      "repeat after me {n}", "echo {n}", "please say {n} back", "say {n} again", "say back {n}",
                      "echo the number {n}", "repeat {n} back", "say {n} back to me", "repeat the word {n}",
                      "would you repeat {n}", "just say {n}", "tell me {n} again", "repeat back the number {n}",
                      "{n} say it back", "will you say {n}"),
           ("say the number {n} back", "can you repeat {n}", "repeat this number {n}"), weight=2.0),
    Intent("thanks", ("thank you", "thanks a lot", "thanks", "thank you so much", "many thanks", "thanks antiphon",
                      "thank you antiphon", "that is great thanks", "okay thank you", "thank you kindly", "thanks so much",
                      "cheers", "thank you for that", "thanks for the help", "much appreciated", "that helps thanks"),
           ("thank you very much", "okay thanks", "great thank you"), wrapped=False),
    Intent("goodbye", ("goodbye", "bye now", "see you later", "bye", "bye bye", "goodbye antiphon",
                       "i have to go now", "good night", "okay goodbye", "see you", "farewell", "bye for now",
                       "i am leaving now", "catch you later", "have a nice day", "so long", "until next time"),
           ("talk to you later", "okay bye", "see you soon"), wrapped=False),
    Intent("unknown", tuple(f"{s} {p}" for s in _UNKNOWN_SUBJECTS for p in _UNKNOWN_PREDICATES) + _UNKNOWN_REQUESTS,
           ("the sky is falling", "bring me a pizza", "where is my phone", "it is cold outside"), wrapped=False),
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
    if intent is None:
        spec = rng.choices(INTENTS, weights=[i.weight for i in INTENTS])[0]
    else:
        spec = INTENTS[INTENT_NAMES.index(intent)]
    return _fill(spec.name, spec.sample(split, rng), rng)


def vocabulary() -> list[str]:
    """Every word a user or the agent can say (rendered once per voice)."""
    words: set[str] = set(NUMBERS) | set(SPELL_WORDS) | set("".join(SPELL_WORDS))
    for spec in INTENTS:
        for t in spec.train + spec.held_out + OPENERS + CLOSERS:
            words |= {w for w in t.split() if not w.startswith("{")}
    for a in all_answers():
        words |= set(a.split())
    return sorted(words)
