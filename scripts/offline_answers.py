"""The held-out questions answered offline: each question encoded whole by the codec and stepped
through the model frame by frame (no server, no audio decode), the answer read from its inner
monologue, with how sure the model was of the answer's first byte and the words its word head
named before it. Deterministic, and a few minutes for a hundred questions on two cores: a quick
look at a candidate before `antiphon eval`, and the data behind "Saying sorry when unsure" in
docs/history.md.

    .venv/bin/python scripts/offline_answers.py --model bundled --voices festival,sam,flite,espeak \
        --per-intent 3 --seed 1 --out answers.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics

import torch

from antiphon.codec import load_codec
from antiphon.harness import eval as word_by_word, eval_voices
from antiphon.harness.offline import answer
from antiphon.model import load_model
from antiphon.server.serve import MODEL_BACKENDS, resolve_backend


WORDS = "espeak-words"  # espeak-ng's held-out voices word by word


def sorry_if_unsure(qs: list, rows: list[dict], threshold: float) -> dict:
    """Per family: accuracy and the share of wrong answers that are 'sorry', had every answer whose
    first byte was less sure than `threshold` been 'sorry' instead (eval_voices.summary's figures)."""
    said = [eval_voices.SORRY if r["first_byte_sure"] is not None and r["first_byte_sure"] < threshold
            else r["answer"] for r in rows]
    return {fam: {k: f[k] for k in ("accuracy", "sorry_share_of_wrong")}
            for fam, f in eval_voices.summary(qs, said).items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="bundled")
    p.add_argument("--codec", default="model/bundled/codec")
    p.add_argument("--voices", default="festival,sam,flite,espeak",
                   help=f"synthesizer families, and {WORDS} for espeak-ng's held-out voices word by word")
    p.add_argument("--per-intent", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--backend", default="torch", choices=MODEL_BACKENDS, help="the model's step, as for antiphon serve")
    p.add_argument("--out", default="offline-answers.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model, backend=resolve_backend(args.backend, "cpu"))
    codec = load_codec(args.codec)
    families = args.voices.split(",")
    qs = eval_voices.questions(codec.sample_rate, codec.frame_size, args.per_intent, args.seed,
                               [f for f in families if f != WORDS])
    if WORDS in families:  # what `antiphon eval` asks without --voices
        qs += [dataclasses.replace(q, family=WORDS) for q in
               word_by_word.questions(codec.sample_rate, codec.frame_size, args.per_intent, args.seed)]
    rows = []
    for i, q in enumerate(qs):
        rows.append(answer(model, codec, q))
        print(f"{i + 1}/{len(qs)} {q.family}: {q.user!r} -> {rows[-1]['answer']!r}", flush=True)
    thresholds = {str(t): sorry_if_unsure(qs, rows, t) for t in (0.0, 0.5, 0.7, 0.8, 0.9)}
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "answers": rows, "sorry_if_unsure": thresholds}, f, indent=1)
    for fam in dict.fromkeys(r["family"] for r in rows):
        after = [r["first_byte_after_ms"] for r in rows if r["family"] == fam and r["first_byte_after_ms"] is not None]
        if after:  # a family may have no answer at all
            print(f"{fam}: the answer's first byte {statistics.median(after):.0f} ms (median) after the question's "
                  f"last sound; {sum(a < 0 for a in after)} answers began before it")
    for t, fams in thresholds.items():
        print(f"sorry below {t}: " + "; ".join(f"{fam} {v['accuracy']:.1%} right, sorry {v['sorry_share_of_wrong'] or 0:.0%}"
                                               f" of wrong" for fam, v in fams.items()))


if __name__ == "__main__":
    main()
