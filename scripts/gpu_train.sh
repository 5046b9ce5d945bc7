#!/usr/bin/env bash
# One prepared GPU run: the ingredients of an averaged model (`antiphon train average`), side by side
# on one GPU. Five model runs from the bundle that differ in seed (batches, noise, dropout) and
# regularizers, on one carried bank, each for BUDGET seconds; being launch-bound, the small model's
# runs share the GPU well (five at once: 57-66 ms per step each). The kernel checks on CUDA tensors
# run beside them. Lay out the inputs first with `bash scripts/gpu_carry.sh lm`, carry .gpu, then
# begin the command with gpu_carry.sh's pip line and run
#   OUT=$OUT CODEC_AS=/root/.cache/antiphon/runs/codec-small-seed0/codec bash scripts/gpu_train.sh
# Each run comes back as one $OUT/<name>.tar (its fp16 export, loss log, settings and plot; the device
# tool returns at most 8 files), and every log in $OUT/logs.txt. Average them with the model they
# started from, here:
#   antiphon train average --models model/bundled/lm <each run>/lm ... --out DIR
set -uo pipefail
PY=${PY:-python3}
BUDGET=${BUDGET:-400}
OUT=${OUT:?where the results go}
CODEC_AS=${CODEC_AS:?the token codec path on the machine the results go back to}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
work=/tmp/gpu-train && rm -rf $work && mkdir -p $work .gpu/cache/data
tar xJf .gpu/bank.tar.xz -C .gpu/cache/data

lm() {
  local name=$1; shift
  $PY scripts/gpu_train_lm.py --cache .gpu/cache --init model/bundled/lm --budget "$BUDGET" --out $work/$name \
    --codec-as "$CODEC_AS" --lr 3e-4 "$@" > $work/$name.log 2>&1
}
s=${SEEDS_FROM:-1}  # a second round on another machine: SEEDS_FROM=11
runs=("tapereg-s$s --seed $s --tape-speed 0.12 --dropout 0.2 --user-noise 0.2"
      "tapereg-s$((s + 1)) --seed $((s + 1)) --tape-speed 0.12 --dropout 0.2 --user-noise 0.2"
      "tape-s$((s + 2)) --seed $((s + 2)) --tape-speed 0.12"
      "control-s$((s + 3)) --seed $((s + 3))"
      "strongreg-s$((s + 4)) --seed $((s + 4)) --tape-speed 0.12 --dropout 0.3 --user-noise 0.3")
for run in "${runs[@]}"; do lm $run & done
$PY -c "import runpy, torch; torch.set_default_device('cuda'); runpy.run_path('tests/kernel_checks.py', run_name='__main__')" \
  > $work/kernel_checks.log 2>&1; echo "kernel checks: exit $?" >> $work/kernel_checks.log
wait
for log in $work/*.log; do echo "== $log"; cat "$log"; done > "$OUT/logs.txt"
for run in "${runs[@]}"; do
  name=${run%% *}
  [[ -d $work/$name ]] && tar cf "$OUT/$name.tar" -C $work "$name"
done
ls -la "$OUT"
