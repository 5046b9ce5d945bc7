"""Agent decoders side by side, with no model in the loop: every answer the agent can give, in its
voice, encoded and decoded by each codec and judged by `antiphon eval`'s recognizer, first as the
model says them (from silence, on a frame boundary: the served tokens), then at three more offsets
within a frame (other tokens for the same sound); and the STOI of new phrases in the agent's voice
(the codec recipe's held-out measure, as the eval reports it). A decoder that loses answers here
loses them served, however well the model answers.

  .venv/bin/python scripts/decoder_check.py CODEC_DIR ...
"""
from __future__ import annotations

import argparse

from antiphon.harness.eval import answers_through_codec, stoi_agent_voice
from antiphon.harness.judge import AnswerJudge
from antiphon.codec import load_codec
from antiphon.model.data import all_answers

QUARTERS = 4  # offsets within a frame: 0, 1/4, 1/2 and 3/4 of it


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
        stoi = stoi_agent_voice(name, codec.sample_rate)
        print(f"| {name} | {n - len(lost[0])} | {QUARTERS * n - sum(map(len, lost))} | {stoi:.3f} | {served} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
