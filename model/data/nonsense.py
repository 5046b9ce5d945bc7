"""Sentences of everyday words that no question uses, for the agent to answer "sorry i did not
understand". Questions played backwards teach it that a voice with no words in it gets "sorry";
these teach the same for words it does not know, which is how a voice it has never heard sounds to
it: otherwise it answers the question whose sound is nearest, as surely as a right answer."""
from __future__ import annotations

import random

import numpy as np

from . import dectalk, flite
from .sentences import speak
from .skills import vocabulary

_EVERYDAY = """
about above across actually afraid against almost along already also always among angry animal
another answer anyone anything apartment april arrive article artist asleep autumn baby bakery ball
basket beach beautiful because bedroom before begin behind believe below beside better between
bicycle birthday blanket borrow bottle bottom breakfast bridge bright brush building butter button
camera candle careful carpet carry castle ceiling chair chance change cheese chicken children
chocolate church circle city clean clever climb clock cloud coast collect colour company corner
cotton country cousin cover cream crowd culture curtain dance danger daughter december decide
desert diamond different difficult dinosaur doubt dream dress during early earth easy edge either
elbow empty engine enjoy enough envelope evening exactly example family famous farmer father
feather field finger finish flower follow forest forget fork forward fruit furniture
future gentle giant glass gloves golden grandmother grass guitar hammer handle heavy hidden history
holiday honest horse hospital hundred hungry island jacket journey jungle kettle kitchen knife ladder
language laugh lemon library lizard machine market meadow medicine middle minute mirror monkey
mountain mouse museum narrow nature never noisy ocean office orange ordinary oven paper parrot
pencil perhaps pillow planet pocket potato problem public puzzle quiet rabbit rather ribbon river
rocket sandwich scissors season second secret shadow shelter silver simple slipper snake soldier
special spider spring square stairs stomach stone story strange street summer supper sweater
teacher thunder ticket tiger tomato tomorrow towel travel trouble turtle umbrella uncle under
usually valley vegetable village violin visit wagon wallet whisper winter wonder wooden yesterday
young zebra
""".split()

WORDS = tuple(sorted(set(_EVERYDAY) - set(vocabulary())))  # never a word a question or an answer uses


def nonsense_text(rng: random.Random) -> str:
    """Two to six of those words, as long as most questions."""
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def say_whole(text: str, voice, rate: int) -> np.ndarray:
    """`text` spoken at once by whichever synthesizer `voice` belongs to (no word times: none of
    these words is a target)."""
    if isinstance(voice, flite.FliteVoice):
        return flite.speak(text, voice, rate)
    if isinstance(voice, dectalk.DectalkVoice):
        return dectalk.speak(text, voice, rate)
    return speak(text, voice, rate)
