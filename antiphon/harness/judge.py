"""An independent judge of what the agent said: pocketsphinx's own English acoustic model,
constrained by a grammar whose sentences are exactly the answers the agent can give."""
from __future__ import annotations

import numpy as np
import soxr

RATE = 16000
WINDOW = RATE // 50  # 20 ms
VOICED_DB = -30  # a window this far below the loudest one is not speech
MARGIN = RATE // 10  # kept either side of the voiced span


def at_judge_rate(pcm: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(pcm.astype(np.float32), rate, RATE) if rate != RATE else pcm


def voiced_span(pcm: np.ndarray) -> np.ndarray:
    """`pcm` (at RATE) from MARGIN before its first voiced window to MARGIN after its last. The
    served agent's answer comes with seconds of the codec's decoded silence around it, which is not
    digital silence, and the recognizer misses half the answers inside it (docs/history.md)."""
    n = len(pcm) // WINDOW
    if n == 0:
        return pcm
    rms = np.sqrt(np.mean(pcm[: n * WINDOW].reshape(n, WINDOW).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > max(rms.max() * 10 ** (VOICED_DB / 20), 1e-5))
    if loud.size == 0:
        return pcm[:0]
    return pcm[max(loud[0] * WINDOW - MARGIN, 0): (loud[-1] + 1) * WINDOW + MARGIN]


def word_distance(a: str, b: str) -> int:
    """Edit distance between two sentences, in words."""
    x, y = a.split(), b.split()
    row = list(range(len(y) + 1))
    for i in range(1, len(x) + 1):
        diag, row[0] = row[0], i
        for j in range(1, len(y) + 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (x[i - 1] != y[j - 1]))
    return row[-1]


class AnswerJudge:
    def __init__(self, answers: list[str]):
        from pocketsphinx import Config, Decoder

        self.answers = sorted(set(answers))
        # topn 16 (pocketsphinx's default is 4) scores each frame against more of its Gaussians, and the
        # grammar's one Viterbi pass is kept without the flat-lexicon pass and lattice rescoring: the
        # settings that hear the most answers with no model in the loop (docs/history.md).
        self.decoder = Decoder(Config(samprate=RATE, lm=None, loglevel="FATAL", topn=16, fwdflat=False,
                                      bestpath=False))
        missing = sorted({w for a in self.answers for w in a.split() if self.decoder.lookup_word(w) is None})
        if missing:
            raise ValueError(f"the recognizer's dictionary lacks {missing}")
        alternatives = " | ".join(f"( {a} )" for a in self.answers)
        self.decoder.add_jsgf_string("answers", "#JSGF V1.0;\ngrammar answers;\npublic <answer> = "
                                     + alternatives + ";\n")
        self.decoder.activate_search("answers")
        self._cmn = self.decoder.get_cmn()  # each recording judged from the same start, in any order

    def transcribe(self, pcm: np.ndarray, rate: int) -> list[str]:
        """The recognizer's best path through the grammar, then its n-best list (paths may end
        inside an answer)."""
        pcm = at_judge_rate(pcm, rate)
        pcm16 = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
        self.decoder.set_cmn(self._cmn)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm16.tobytes(), full_utt=True)
        self.decoder.end_utt()
        best = self.decoder.hyp()
        # pocketsphinx returns None for the n-best of a recording it cannot read: a wrong answer, not a crash
        paths = [best] + [n for n, _ in zip(self.decoder.nbest() or (), range(20))]
        return [" ".join(p.hypstr.split()) for p in paths if p is not None and p.hypstr and p.hypstr.strip()]

    def hear(self, pcm: np.ndarray, rate: int) -> str | None:
        """The answer heard in float32 mono `pcm` (its voiced span), or None: the first complete answer
        among the best paths, else the one answer nearest in words to the best path, if it is unique."""
        span = voiced_span(at_judge_rate(pcm, rate))
        paths = self.transcribe(span, RATE) if len(span) else []
        if not paths:
            return None
        complete = [p for p in paths if p in self.answers]
        if complete:
            return complete[0]
        heard = paths[0]
        ranked = sorted((word_distance(heard, a), a) for a in self.answers)
        return ranked[0][1] if ranked[0][0] < ranked[1][0] else None
