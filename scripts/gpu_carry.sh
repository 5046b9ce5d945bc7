#!/usr/bin/env bash
# Lays out .gpu/ (keep it out of git: echo /.gpu/ >> .git/info/exclude) with what a lent GPU machine
# lacks for the prepared GPU runs: it has torch, triton, onnxruntime, scipy and matplotlib, not the
# project's audio packages, espeak-ng or this machine's ~/.cache/antiphon. Name .gpu in the device
# tool's `carry`, then begin the command with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl &&
#   export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD
# usage:
#   bash scripts/gpu_carry.sh check                  # scripts/gpu_check.sh
#   bash scripts/gpu_carry.sh lm LM_DIR              # scripts/gpu_train_lm.py --cache .gpu/cache --init .gpu/init/lm
#   bash scripts/gpu_carry.sh decoder                # scripts/gpu_train_decoder.py --cache .gpu/cache
# The carried tree (with the repository) must stay under the device tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?check, lm LM_DIR or decoder}
CACHE=${ANTIPHON_CACHE:-$HOME/.cache/antiphon}
CODEC=$CACHE/runs/codec-small-seed0/codec
rm -rf .gpu && mkdir -p .gpu/whl .gpu/site
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .gpu/whl soxr soundfile cffi pycparser pystoi websockets
# encodec is published as a source archive only: its (pure Python) package is copied as installed here
cp -r "$(.venv/bin/python -c 'import encodec, os; print(os.path.dirname(encodec.__file__))')" .gpu/site/
case $what in
  check) ;;
  lm)
    lm=${2:?the model to start from}
    mkdir -p .gpu/cache/runs/codec-small-seed0 .gpu/cache/data .gpu/init
    cp -r "$CODEC" .gpu/cache/runs/codec-small-seed0/
    bank=$(.venv/bin/python -c "from model.train.lm_data import DATA_VERSION, codec_digest
print(f'v{DATA_VERSION}-{codec_digest(\"$CODEC\")}')")
    [[ -d $CACHE/data/$bank ]] || { echo "no token bank $bank: run antiphon train lm here first (it builds it)" >&2; exit 1; }
    cp -r "$CACHE/data/$bank" .gpu/cache/data/
    # fp16 halves what travels; the recipe starts from it in float32
    .venv/bin/python -c "
from model.checkpoint import load_checkpoint
from model.train.bundle import export_model
m, meta = load_checkpoint('$lm')
export_model(m, meta, '.gpu/init/lm', codec=meta['codec'])" ;;
  decoder)
    mkdir -p .gpu/cache/runs/codec-small-seed0 .gpu/cache/speech
    cp -r "$CODEC" .gpu/cache/runs/codec-small-seed0/
    agent=$(.venv/bin/python -c "
from model.data.skills import vocabulary
from model.data.speech import AGENT_VOICE, WordBank
print(WordBank(16000)._file(AGENT_VOICE, vocabulary()))")
    [[ -f $agent ]] || { echo "render the agent's words first (antiphon train codec --agent-decoder renders them)" >&2; exit 1; }
    cp "$agent" .gpu/cache/speech/ ;;
  *) echo "usage: bash scripts/gpu_carry.sh check | lm LM_DIR | decoder" >&2; exit 2 ;;
esac
du -sh .gpu
