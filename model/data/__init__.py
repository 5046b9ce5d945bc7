"""Synthetic two-channel conversations rendered by espeak-ng: the training and evaluation data."""
from .conversations import Conversation, TokenBank, Turn, assemble
from .skills import INTENT_NAMES, INTENTS, Exchange, all_answers, answer, sample_exchange, vocabulary
from .speech import AGENT_VOICE, Voice, WordBank, user_voices
from .utterances import UtteranceMaker, held_out_speech

__all__ = ["Conversation", "TokenBank", "Turn", "assemble", "UtteranceMaker", "INTENT_NAMES", "INTENTS",
           "Exchange", "all_answers", "answer", "sample_exchange", "vocabulary", "AGENT_VOICE", "Voice", "WordBank",
           "user_voices", "held_out_speech"]
