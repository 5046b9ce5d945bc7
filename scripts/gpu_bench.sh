#!/usr/bin/env bash
# One prepared GPU run: the whole server end to end on CUDA (docs/benchmarks.md, "On a GPU, end to
# end"). A GPU machine often has no espeak-ng, so the simulated users ask questions rendered here:
# lay them out with `bash scripts/gpu_carry.sh bench`, carry .gpu, begin the command with
# gpu_carry.sh's pip line, then
#   OUT=$OUT bash scripts/gpu_bench.sh
# One server (MODEL: the bundled agent unless set) serves every level; a short level first warms
# CUDA up (a cold server is not real time for its first seconds, and the sweep stops at the first
# level that is not), then the sweep. The server's log comes back beside the results.
# The simulated users run in CLIENT_PROCESSES processes (8): one process fell behind at 64 users.
set -uo pipefail
PY=${PY:-python3}
OUT=${OUT:?where the results go}
PORT=${PORT:-8792}
export PYTHONUNBUFFERED=1
model=(); [[ -n ${MODEL:-} ]] && model=(--model "$MODEL")
timeout "${LIMIT:-240}" $PY -m antiphon.cli serve "${model[@]}" --device "${DEVICE:-cuda}" --port "$PORT" \
  --max-sessions 128 > "$OUT/serve.log" 2>&1 &
server=$!
for _ in $(seq 90); do grep -q serving "$OUT/serve.log" && break; sleep 1; done
url=ws://127.0.0.1:$PORT/ws
$PY -m antiphon.cli bench --url "$url" --device "${DEVICE:-cuda}" --sessions 2 --seconds 4 \
  --questions .gpu/questions --out "$OUT/warm-up" > /dev/null 2>&1
$PY -m antiphon.cli bench --url "$url" --device "${DEVICE:-cuda}" --sessions "${SESSIONS:-16,64,128}" \
  --seconds "${SECONDS_PER_LEVEL:-8}" --client-processes "${CLIENT_PROCESSES:-8}" --questions .gpu/questions \
  --out "$OUT/bench" 2>&1 \
  | tr '\r' '\n' | grep -v '%|' | tee "$OUT/bench.log"
kill $server 2>/dev/null; wait $server 2>/dev/null
