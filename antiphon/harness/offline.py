"""A question answered offline: encoded whole by the codec and stepped through the model frame by
frame (no server, no audio decode), the answer read from the model's inner monologue. Deterministic,
and quick: for comparing models or step backends on the same questions (scripts/offline_answers.py)."""
from __future__ import annotations

import torch

from .records import Question

AFTER_S = 2.4  # of silence after each question's audio, for the answer's text
SKIP_FRAMES = 5  # after the question starts: a greeting before it is not its answer


def answer(model, codec, q: Question) -> dict:
    """The answer, how sure the model was of its first byte (among bytes, not PAD, whose share at
    the onset says when to speak, not what), when that byte came after the question's last sound
    (the frame it was written on ends that long after), and the words its word head named before it."""
    fs = codec.frame_size
    audio = torch.from_numpy(q.audio[: len(q.audio) // fs * fs])[None, None]
    codes = codec.encode(audio)
    silence = codec.encode(torch.zeros(1, 1, fs))[..., 0]
    stream = model.stream(1)
    frames = codes.shape[-1] + int(AFTER_S * codec.frame_rate)
    text, sure, heard = [], [], []
    for t in range(frames):
        stream.step(codes[..., t] if t < codes.shape[-1] else silence)
        p = stream.last_logits[0][0].float().softmax(-1)[:256]  # bytes only: not PAD's share at the onset
        text.append(int(stream.last_text[0]))
        sure.append(float(p.max() / p.sum()))
        word = stream.heard([0])[0]
        if word:
            heard.append((t, word))
    said = [(t, b) for t, b in enumerate(text) if t >= q.speech[0] // fs + SKIP_FRAMES and b < 256]
    first = said[0][0] if said else frames
    mono = bytes(b for _, b in said).decode("utf-8", "replace").strip()
    return {"family": q.family, "intent": q.intent, "user": q.user, "expected": q.expected, "answer": mono,
            "right": mono == q.expected, "first_byte_sure": sure[first] if said else None,
            "first_byte_after_ms": 1000 * ((first + 1) * fs - q.speech[1]) / codec.sample_rate if said else None,
            "heard": [w for t, w in heard if t <= first]}
