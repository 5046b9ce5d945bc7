"""Teacher-forced held-out accuracy of model checkpoints, side by side: the LM recipe's held-out
measure (whole answers with every byte right, `lm_recipe.held_out_accuracy`) over several batches of
conversations in held-out voices and phrasings, the same batches for every model. About 15 s per
model on a 2-core CPU, against the quarter hour of a served `antiphon eval` at 130 questions: a
filter before serving, not a substitute (docs/history.md).

  .venv/bin/python scripts/teacher_forced.py [--batches 6] LM_DIR ...
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from antiphon.codec import load_codec
from antiphon.model.checkpoint import load_checkpoint
from antiphon.model.data import vocabulary
from antiphon.model.train import lm_data, lm_recipe
from antiphon.model.train.run import RUNS


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--codec", default=str(RUNS / "codec-small-seed0" / "codec"), help="the models' token codec")
    p.add_argument("--batches", type=int, default=6, help="batches of 64 conversations (the recipe's held-out size)")
    a = p.parse_args()
    models = [(name, load_checkpoint(name)[0]) for name in a.models]
    codec = load_codec(a.codec, num_codebooks=models[0][1].cfg.num_codebooks)
    silence = lm_recipe.silence_codes(codec)
    bank = lm_data.build_bank(codec, Path(a.codec), silence.numpy(), lm_recipe.HELD_OUT_QUESTIONS, 0,
                              lm_recipe.HELD_OUT_VOICES, "eval", RUNS.parent / "data", show=False)
    settings = lm_recipe.DEFAULTS  # the conversations the recipe's own held-out measure assembles
    batches = [lm_data.conversations(bank, settings["held_out"], settings["frames"], random.Random(s),
                                     settings["barge_in"]) for s in range(a.batches)]
    for name, model in models:
        with torch.no_grad():
            scored = lm_recipe.WithWordHead(model, len(vocabulary()), 2)  # its word head is untrained: unused
            exact = [lm_recipe.held_out_accuracy(scored, b, "cpu")["heldout_answer_exact"] for b in batches]
        print(f"{sum(exact) / len(exact):.3f}  ({' '.join(f'{e:.3f}' for e in exact)})  {name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
