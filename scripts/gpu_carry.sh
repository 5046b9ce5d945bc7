#!/usr/bin/env bash
# Lays out .gpu/ (keep it out of git: echo /.gpu/ >> .git/info/exclude) with what a GPU machine
# lacks for the prepared GPU runs: it has torch, triton, onnxruntime, scipy and matplotlib, not the
# project's audio packages, espeak-ng or this machine's ~/.cache/antiphon. Name .gpu in the device
# tool's `carry`, then begin the command with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl &&
#   export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD
# usage (one or more parts; each lays out its own inputs beside the wheels):
#   bash scripts/gpu_carry.sh check                  # scripts/gpu_check.sh
#   bash scripts/gpu_carry.sh lm                     # scripts/gpu_train_lm.py --cache .gpu/cache --init model/bundled/lm
#   bash scripts/gpu_carry.sh decoder                # scripts/gpu_train_decoder.py --cache .gpu/cache
#   bash scripts/gpu_carry.sh lm decoder             # scripts/gpu_train.sh: both at once, one GPU
#   bash scripts/gpu_carry.sh bench                  # scripts/gpu_bench.sh (questions rendered here)
# The token bank travels as .gpu/bank.tar.xz (a third of its size); unpack it into .gpu/cache/data
# there (scripts/gpu_train.sh does). The carried tree (with the repository) must stay under the
# 64 MiB that a remote run may carry.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { echo "usage: bash scripts/gpu_carry.sh check | lm | decoder | bench ..." >&2; exit 2; }
CACHE=${ANTIPHON_CACHE:-$HOME/.cache/antiphon}
CODEC=$CACHE/runs/codec-small-seed0/codec
rm -rf .gpu && mkdir -p .gpu/whl .gpu/site
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .gpu/whl soxr soundfile cffi pycparser pystoi websockets
# the project itself, as the one package it installs (its folders map under antiphon. only when installed)
python3 -m pip wheel -q --no-deps -w .gpu/whl .
# encodec is published as a source archive only: its (pure Python) package is copied as installed here
cp -r "$(.venv/bin/python -c 'import encodec, os; print(os.path.dirname(encodec.__file__))')" .gpu/site/
for what in "$@"; do
  case $what in
    lm|decoder) mkdir -p .gpu/cache/runs/codec-small-seed0 && cp -r "$CODEC" .gpu/cache/runs/codec-small-seed0/ ;;
  esac
  case $what in
    check) ;;
    bench)
      mkdir -p .gpu/questions
      .venv/bin/python -c "import soundfile
from antiphon.harness.bench import render_questions
for i, q in enumerate(render_questions(24000)):
    soundfile.write(f'.gpu/questions/q{i:02d}.wav', q, 24000)" ;;
    lm)
      bank=$(.venv/bin/python -c "from antiphon.model.train.lm_data import DATA_VERSION, codec_digest
print(f'v{DATA_VERSION}-{codec_digest(\"$CODEC\")}')")
      [[ -d $CACHE/data/$bank ]] || { echo "no token bank $bank: run antiphon train lm here first (it builds it)" >&2; exit 1; }
      tar cf - -C "$CACHE/data" "$bank" | xz -T0 -6 > .gpu/bank.tar.xz ;;
    decoder)
      mkdir -p .gpu/cache/speech
      agent=$(.venv/bin/python -c "
from antiphon.model.data.skills import vocabulary
from antiphon.model.data.speech import AGENT_VOICE, WordBank
print(WordBank(16000)._file(AGENT_VOICE, vocabulary()))")
      [[ -f $agent ]] || { echo "render the agent's words first (antiphon train codec --agent-decoder renders them)" >&2; exit 1; }
      cp "$agent" .gpu/cache/speech/ ;;
    *) echo "usage: bash scripts/gpu_carry.sh check | lm | decoder | bench ..." >&2; exit 2 ;;
  esac
done
du -sh .gpu
