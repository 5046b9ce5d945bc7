"""One prepared GPU run: a wider agent decoder (`antiphon train codec --agent-decoder
--decoder-filters N`) on the frozen encoder's tokens, for a fixed wall-clock budget, exported in fp16.

A GPU machine often has no espeak-ng, so it trains on a carried cache: DIR holds the agent voice's
rendered words (speech/en-us_f2_*.npz, what `antiphon train codec` renders on the CPU) and the
codec whose encoder and codebooks the model's tokens come from (runs/<codec>/codec).

  python scripts/gpu_train_decoder.py --cache DIR --seconds 150 --out OUT \\
      --tokens-as ~/.cache/antiphon/runs/codec-small-seed0/codec
`bash scripts/gpu_carry.sh decoder` lays out that cache in .gpu/.
"""
from __future__ import annotations

import argparse
import os
import signal
import shutil
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", required=True, help="a copy of ~/.cache/antiphon holding the codec and the agent's words")
    p.add_argument("--codec-name", default="codec-small-seed0")
    p.add_argument("--seconds", type=float, default=150, help="training wall clock; then it stops and exports")
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--init", help="a codec whose decoder is this wide already (the bundle's) to go on from; "
                   "default: a new decoder on the token codec")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--out", required=True, help="where the fp16 codec, the log and the plot go")
    p.add_argument("--tokens-as", required=True, help="the token codec's path on the machine the codec goes back to")
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    os.environ["ANTIPHON_CACHE"] = str(Path(a.cache).resolve())  # read when model.train.run is imported

    import torch

    from antiphon.model.train import codec_recipe
    from antiphon.model.train.bundle import export_codec
    from antiphon.model.train.run import RUNS

    torch.backends.cudnn.benchmark = True
    work = RUNS / "gpu-decoder"
    shutil.rmtree(work, ignore_errors=True)
    # The recipe stops cleanly on SIGTERM (checkpoint, plot, export); the alarm turns the budget into one.
    signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    signal.setitimer(signal.ITIMER_REAL, a.seconds)
    start = time.monotonic()
    result = codec_recipe.train(out=work, steps=10**6, device=a.device, save_seconds=60, agent_decoder=True,
                                decoder_filters=a.filters,
                                init=str(Path(a.init).resolve()) if a.init else str(RUNS / a.codec_name / "codec"),
                                batch=a.batch, lr=a.lr)
    print(f"trained {result['step']} steps in {time.monotonic() - start:.0f} s", flush=True)

    out = Path(a.out)
    export_codec(result["checkpoint"], out / "codec", tokens_from=a.tokens_as)
    for name in ("losses.jsonl", "loss.png", "settings.json"):
        shutil.copy(work / name, out / name)
    print(f"exported to {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
