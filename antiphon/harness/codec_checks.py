"""What the codec keeps and voices, with no model: STOI of held-out users' speech through it, STOI
of the agent's voice through the served decoder, and the answers the judge hears through it alone
(the most the judged accuracy can be with that decoder)."""
from __future__ import annotations

import numpy as np

from antiphon.model.data import UtteranceMaker, held_out_speech

from .judge import AnswerJudge
from .records import Question


def served_codec(model_name: str | None, hello: dict) -> str:
    """The codec a model was trained with (from its checkpoint), else what the server reports."""
    if model_name is not None:
        from antiphon.model import load_model

        return load_model(model_name).codec_name
    return hello["codec"]


def _round_trip(codec_name: str, measure: str):
    """(codec, PCM -> PCM encoded and decoded offline), or None, said, when the codec cannot load."""
    import torch

    from antiphon.codec import load_codec

    try:
        codec = load_codec(codec_name)
    except (ValueError, FileNotFoundError) as e:
        print(f"{measure} skipped: {e}")
        return None
    return codec, lambda pcm: codec.decode(codec.encode(torch.from_numpy(pcm)[None, None]))[0, 0].numpy()


def _stoi_through(codec_name: str, clips: list[np.ndarray]) -> float | None:
    """Mean STOI of each clip against itself encoded and decoded by the codec (offline)."""
    from pystoi import stoi

    if not (loaded := _round_trip(codec_name, "STOI")):
        return None
    codec, through = loaded
    scores = []
    for x in clips:
        x = np.concatenate([x, np.zeros(-len(x) % codec.frame_size, np.float32)])
        scores.append(stoi(x, through(x), codec.sample_rate))
    return float(np.mean(scores))


def stoi_of_codec(codec_name: str, qs: list[Question]) -> float | None:
    """The codec on the held-out users' speech: how much of a question its tokens keep."""
    return _stoi_through(codec_name, [q.words_audio() for q in qs])


def stoi_agent_voice(codec_name: str, rate: int) -> float | None:
    """The codec on new phrases in the agent's voice (not its answers): how clearly the served
    decoder speaks, which is what a listener hears of it."""
    return _stoi_through(codec_name, list(held_out_speech(rate, seed=0, agent=True)))


def _judged_answers(judge: AnswerJudge, rate: int, frame_size: int, voice, shift: int = 0) -> dict:
    """Every answer the judge knows, rendered in the agent's voice, passed through `voice` (float32
    PCM in and out) with a second of silence either side, as the served agent's answers come (through
    a codec that silence is the decoder's, not zeros), and judged: {"heard": the share heard right,
    "lost": {answer: heard instead}}. `shift` samples more before each answer move it within a codec
    frame, which gives the same sound other tokens than the model says."""
    maker = UtteranceMaker(rate, frame_size)
    pad = np.zeros(rate // frame_size * frame_size, np.float32)
    lost = {}
    for answer in judge.answers:
        pcm, _ = maker.agent_utterance(answer)
        pcm = np.concatenate([np.zeros(shift, np.float32), pcm,
                              np.zeros(-(shift + len(pcm)) % frame_size, np.float32)])
        heard = judge.hear(voice(np.concatenate([pad, pcm, pad])), rate)
        if heard != answer:
            lost[answer] = heard
    return {"heard": 1 - len(lost) / len(judge.answers), "lost": lost}


def answers_in_agent_voice(judge: AnswerJudge, rate: int, frame_size: int) -> dict:
    """The judge on espeak-ng's own rendering of every answer: the instrument's ceiling, whatever the
    codec and the model (pocketsphinx's acoustic model mishears some of the agent's voice)."""
    return _judged_answers(judge, rate, frame_size, lambda pcm: pcm)


def answers_through_codec(codec_name: str, judge: AnswerJudge, shift: int = 0) -> dict | None:
    """Every answer the judge knows, in the agent's voice, encoded and decoded by the codec, then
    judged: the most the judged accuracy can be with this decoder, however well the model answers.
    At `shift` 0 the answers start on a frame boundary, with the tokens the model says."""
    if not (loaded := _round_trip(codec_name, "answers through the codec")):
        return None
    codec, through = loaded
    return _judged_answers(judge, codec.sample_rate, codec.frame_size, through, shift)
