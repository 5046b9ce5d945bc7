"""Agent decoders side by side, with no model in the loop: every answer the agent can give, in its
voice, encoded and decoded by each codec and judged by `antiphon eval`'s recognizer, first as the
model says them (from silence, on a frame boundary: the served tokens), then at three more offsets
within a frame (other tokens for the same sound); and the STOI of new phrases in the agent's voice
(the codec recipe's held-out measure). A decoder that loses answers here loses them served, however
well the model answers.

  .venv/bin/python scripts/decoder_check.py CODEC_DIR ...
"""
from __future__ import annotations

import argparse

import numpy as np

from client.eval import answers_through_codec
from client.judge import AnswerJudge
from codec import load_codec
from model.data import all_answers
from model.train.codec_recipe import held_out_speech

QUARTERS = 4  # offsets within a frame: 0, 1/4, 1/2 and 3/4 of it


def agent_stoi(codec) -> float:
    from pystoi import stoi

    wav = held_out_speech(codec.config, seed=0, agent=True)
    out = codec.decode(codec.encode(wav))
    return float(np.mean([stoi(w[0].numpy(), o[0].numpy(), codec.sample_rate) for w, o in zip(wav, out)]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("codecs", nargs="+")
    a = p.parse_args()
    judge = AnswerJudge(all_answers())
    print("| codec | heard as served (of 62) | heard at 4 offsets (of 248) | agent-voice STOI | lost as served |")
    print("|---|---|---|---|---|")
    for name in a.codecs:
        codec = load_codec(name)
        lost = [answers_through_codec(name, judge, codec.frame_size * q // QUARTERS)["lost"] for q in range(QUARTERS)]
        n = len(judge.answers)
        served = ", ".join(f"{k} ({v})" for k, v in lost[0].items())
        print(f"| {name} | {n - len(lost[0])} | {QUARTERS * n - sum(map(len, lost))} | {agent_stoi(codec):.3f} "
              f"| {served} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
