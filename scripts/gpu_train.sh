#!/usr/bin/env bash
# One prepared GPU run of the training experiments, side by side on one GPU: the kernel checks on
# CUDA tensors, three model runs from the bundle (a control, tape-speed perturbed questions, and the
# same with more dropout and user noise) and the bundled agent decoder trained on. Every run gets the
# same BUDGET seconds; being launch-bound, the small model's runs share the GPU well.
# Lay out the inputs first with `bash scripts/gpu_carry.sh lm decoder`, carry .gpu, then begin the
# command with gpu_carry.sh's pip line and run
#   OUT=$OUT CODEC_AS=/root/.cache/antiphon/runs/codec-small-seed0/codec bash scripts/gpu_train.sh
# Each run comes back as one $OUT/<name>.tar (its fp16 export, loss log, settings and plot; the device
# tool returns at most 8 files), and every log in $OUT/logs.txt.
set -uo pipefail
PY=${PY:-python3}
BUDGET=${BUDGET:-360}
OUT=${OUT:?where the results go}
CODEC_AS=${CODEC_AS:?the token codec path on the machine the results go back to}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3
work=/tmp/gpu-train && rm -rf $work && mkdir -p $work .gpu/cache/data
tar xJf .gpu/bank.tar.xz -C .gpu/cache/data

lm() {
  local name=$1; shift
  $PY scripts/gpu_train_lm.py --cache .gpu/cache --init model/bundled/lm --budget "$BUDGET" --out $work/$name \
    --codec-as "$CODEC_AS" --lr 3e-4 "$@" > $work/$name.log 2>&1
}
lm control &
lm tape --tape-speed 0.12 &
lm tape-reg --tape-speed 0.12 --dropout 0.2 --user-noise 0.2 &
$PY scripts/gpu_train_decoder.py --cache .gpu/cache --seconds "$BUDGET" --init model/bundled/codec --lr 5e-4 \
  --out $work/decoder --tokens-as "$CODEC_AS" > $work/decoder.log 2>&1 &
$PY -c "import runpy, torch; torch.set_default_device('cuda'); runpy.run_path('tests/kernel_checks.py', run_name='__main__')" \
  > $work/kernel_checks.log 2>&1; echo "kernel checks: exit $?" >> $work/kernel_checks.log
wait
for log in $work/*.log; do echo "== $log"; cat "$log"; done > "$OUT/logs.txt"
for name in control tape tape-reg decoder; do
  [[ -d $work/$name ]] && tar cf "$OUT/$name.tar" -C $work "$name"
done
ls -la "$OUT"
