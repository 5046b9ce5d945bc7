"""One prepared GPU run of the LM recipe (`--device cuda`), sized to a wall-clock budget.

A GPU machine often has no espeak-ng and a run may have only minutes, so it trains on a carried cache: DIR holds
runs/<codec>/codec and the token bank data/v<N>-<hash> that `antiphon train lm` built on the CPU (the
bank is keyed by the codec's weights, so nothing is rendered there). The run first times 60 steps,
then trains as many steps as the budget allows, and exports the model in fp16 with the loss log.

  python scripts/gpu_train_lm.py --cache DIR --init LM_DIR --budget 300 --out OUT \\
      --codec-as ~/.cache/antiphon/runs/codec-small-seed0/codec
`bash scripts/gpu_carry.sh lm` lays out that cache in .gpu/ (unpack .gpu/bank.tar.xz into
.gpu/cache/data there); LM_DIR can be the repository's model/bundled/lm.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", required=True, help="a copy of ~/.cache/antiphon holding the codec and the bank")
    p.add_argument("--codec-name", default="codec-small-seed0")
    p.add_argument("--init", required=True, help="the model to start from (an lm checkpoint folder)")
    p.add_argument("--budget", type=float, default=300, help="seconds for calibration and training together")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=8e-4)
    p.add_argument("--voices", type=int, default=256)
    p.add_argument("--questions", type=int, default=64)
    p.add_argument("--tape-speed", type=float, default=0.0)
    p.add_argument("--sentences", type=float, default=0.0, help="share spoken whole (its shards must be in the bank)")
    p.add_argument("--seed", type=int, default=0, help="the run's batches, noise and dropout (the bank stays seed 0's)")
    p.add_argument("--dropout", type=float)
    p.add_argument("--user-noise", type=float)
    p.add_argument("--out", required=True, help="where the fp16 model, the log and the plot go")
    p.add_argument("--codec-as", required=True, help="the codec's path on the machine the model goes back to")
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    os.environ["ANTIPHON_CACHE"] = str(Path(a.cache).resolve())  # read when model.train.run is imported

    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    from antiphon.model.checkpoint import load_checkpoint
    from antiphon.model.train import lm_recipe
    from antiphon.model.train.bundle import export_model
    from antiphon.model.train.run import RUNS

    common = dict(codec=str(RUNS / a.codec_name / "codec"), voices=a.voices, questions=a.questions,
                  batch=a.batch, lr=a.lr, init=str(Path(a.init).resolve()), tape_speed=a.tape_speed,
                  sentences=a.sentences, dropout=a.dropout, user_noise=a.user_noise, seed=a.seed, data_seed=0)
    work = RUNS / f"gpu-{Path(a.out).name}"  # several runs may share one GPU
    shutil.rmtree(work, ignore_errors=True)
    start = time.monotonic()
    lm_recipe.train(out=work / "calibration", steps=60, device=a.device, save_seconds=1e9, held_out=0, **common)
    rows = [json.loads(line) for line in (work / "calibration" / "losses.jsonl").read_text().splitlines()]
    per_step = (rows[-1]["seconds"] - rows[19]["seconds"]) / (len(rows) - 20)
    left = a.budget - (time.monotonic() - start)
    steps = max(250, int(left * 0.8 / per_step) // 250 * 250)  # whole held-out evaluations; margin for them
    print(f"calibration: {per_step * 1e3:.1f} ms/step at batch {a.batch}; training {steps} steps "
          f"in the {left:.0f} s left", flush=True)
    result = lm_recipe.train(out=work / "run", steps=steps, device=a.device, save_seconds=120, **common)
    print(json.dumps(result), flush=True)

    out = Path(a.out)
    export_model(*load_checkpoint(Path(result["checkpoint"])), out / "lm", codec=a.codec_as)
    for name in ("losses.jsonl", "loss.png", "settings.json"):
        shutil.copy(work / "run" / name, out / name)
    print(f"exported to {out}: {steps} steps, {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
