#!/usr/bin/env bash
# One prepared GPU run: the whole server end to end on CUDA (docs/benchmarks.md, "On a GPU, end to
# end"). The lent machine has no espeak-ng, so the simulated users ask questions rendered here:
# lay them out with `bash scripts/gpu_carry.sh bench`, carry .gpu, begin the command with
# gpu_carry.sh's pip line, then
#   OUT=$OUT bash scripts/gpu_bench.sh
set -uo pipefail
PY=${PY:-python3}
OUT=${OUT:?where the results go}
export PYTHONUNBUFFERED=1
timeout "${LIMIT:-240}" $PY -m server.cli bench --model "${MODEL:-random:100m}" --device cuda \
  --sessions "${SESSIONS:-1,16,64,128}" --seconds "${SECONDS_PER_LEVEL:-8}" --no-baseline \
  --questions .gpu/questions --out "$OUT/bench" 2>&1 | tr '\r' '\n' | grep -v "^bench: *[0-9]*%" | tee "$OUT/bench.log"
