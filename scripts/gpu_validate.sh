#!/usr/bin/env bash
# The GPU check: measure the seed CNN on this machine's accelerator through Keras 3 and put
# cnncost's predictions beside the measurements. Works on a bare machine with only JAX or
# PyTorch (no TensorFlow, no keras, no network): Keras and its missing pure-Python dependencies
# are installed from wheels carried in $WHEELS.
#
# Writes ONE result JSON and ONE Markdown page to $OUT (gpu_validate.json, gpu_validate.md), plus
# the log and a tarball of every step's raw JSON. What it measures (reference_model/gpu_check.py):
#   - per-layer latency, whole-model inference and training step of the seed CNN at
#     $IMAGE_SIZE px, batch $BATCHES, dtype policies $DTYPES, each against cnncost's roofline
#     for the device profiles $DEVICES (datasheet h200 first; h200+tf32: float32 at TF32 peak);
#   - peak device memory of the training step vs cnncost's training-memory estimate;
#   - images/s of a short real training run on synthetic DeepFashion data, and of the trainer's
#     own loaders over its JPEGs (PyDataset; tf.data where TensorFlow is installed);
#   - this machine's roofline through the same backend (`cnncost calibrate --engine keras`).
# Everything runs under one overall limit, LIMIT_S seconds (default 420): each step gets what
# is left, minus REPORT_S kept for the report; steps that do not fit are named as missing.
#
# Before carrying (on a machine with PyPI; Python 3.12, x86-64):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#     keras==3.15.1 namex optree
# CPU dry run (tests/reference_model/test_rm_gpu_check.py runs this, slow tier):
#   OUT=/tmp/dry BACKEND=jax IMAGE_SIZE=32 BATCHES="2" DTYPES="float32" REPEATS=2 WARMUP=1 \
#     TRAIN_IMAGES_PER_CLASS=2 TRAIN_BATCH=8 TRAIN_EPOCHS=2 CALIBRATE=0 bash scripts/gpu_validate.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LIMIT_S=${LIMIT_S:-420}
REPORT_S=${REPORT_S:-25}
deadline=$((SECONDS + LIMIT_S))
OUT=${OUT:-./gpu_validate_out}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/gpu_validate_site}
WORK=${WORK:-/tmp/gpu_validate_work}
MODEL=${MODEL:-seed}
IMAGE_SIZE=${IMAGE_SIZE:-256}
BATCHES=${BATCHES:-"32 128"}
DTYPES=${DTYPES:-"float32 mixed_bfloat16"}
EXTRA_DTYPES=${EXTRA_DTYPES-bfloat16}  # measured last, if time is left
REPEATS=${REPEATS:-30}
WARMUP=${WARMUP:-5}
DEVICES=${DEVICES:-h200,h200+tf32}
TRAIN_BATCH=${TRAIN_BATCH:-128}
TRAIN_DTYPE=${TRAIN_DTYPE:-mixed_bfloat16}
TRAIN_EPOCHS=${TRAIN_EPOCHS:-6}
TRAIN_IMAGES_PER_CLASS=${TRAIN_IMAGES_PER_CLASS:-40}
CALIBRATE=${CALIBRATE:-1}
FP32_HIGHEST=${FP32_HIGHEST:-1}  # jax: also float32 without TF32, at the largest batch
CALIBRATE_KINDS=${CALIBRATE_KINDS:-1}  # last: per-layer-kind factors (cnncost calibrate --kinds)
MATMUL_SIZE=${MATMUL_SIZE:-8192}
PYTHON=${PYTHON:-python3}
started_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)

mkdir -p "$OUT" "$WORK"
rm -f "$WORK"/*.json "$WORK"/plan.txt
LOG="$OUT/gpu_validate.log"
log() { echo "gpu_validate: $*" | tee -a "$LOG" >&2; }
left() { echo $((deadline - SECONDS - REPORT_S)); }

# 1. The backend candidates, found BEFORE anything imports keras (keras reads KERAS_BACKEND
# once, at its first import, so checking `import keras` first would pick TensorFlow's default).
candidates=${BACKEND:-}
if [ -z "$candidates" ]; then
  for candidate in jax torch tensorflow; do
    if "$PYTHON" -c "import $candidate" 2>/dev/null; then candidates="$candidates $candidate"; fi
  done
fi
if [ -z "$candidates" ]; then
  log "none of jax, torch, tensorflow is importable"
  exit 2
fi
read -r first _ <<<"$candidates"
export KERAS_BACKEND=$first
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

# 2. Keras and its missing pure-Python dependencies from the carried wheels (no index).
if ! "$PYTHON" -c "import keras" 2>/dev/null; then
  if ! ls "$WHEELS"/keras-*.whl >/dev/null 2>&1; then
    log "keras is not installed and no $WHEELS/keras-*.whl was carried"
    exit 2
  fi
  # only what is missing: the machine's own numpy, h5py, ml-dtypes, rich ... stay as they are
  missing=()
  for wheel in "$WHEELS"/*.whl; do
    module=$(basename "$wheel" | cut -d- -f1 | tr '[:upper:]' '[:lower:]')
    if [ "$module" = keras ] || ! "$PYTHON" -c "import $module" 2>/dev/null; then
      missing+=("$wheel")
    fi
  done
  log "installing from $WHEELS: ${missing[*]##*/}"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "${missing[@]}" 2>&1 | tee -a "$LOG"
  export PYTHONPATH="$PYTHONPATH:$SITE"
  if ! "$PYTHON" -c "import keras" 2>>"$LOG"; then
    log "keras does not import after installing $(ls "$WHEELS" | tr '\n' ' ')"
    exit 2
  fi
fi
# The first candidate on which Keras runs a small compiled op (a Keras/backend version clash
# shows here, not half-way through the measurements).
BACKEND=
for candidate in $candidates; do
  if KERAS_BACKEND=$candidate "$PYTHON" -c "
import keras, numpy as np
x = keras.ops.convert_to_tensor(np.ones((64, 64), 'float32'))
assert float(keras.ops.sum(keras.ops.matmul(x, x))) == 64.0 ** 3
assert keras.backend.backend() == '$candidate'" >>"$LOG" 2>&1; then
    BACKEND=$candidate
    break
  fi
  log "keras does not run on the $candidate backend (see the log); trying the next"
done
if [ -z "$BACKEND" ]; then
  log "keras runs on none of: $candidates"
  exit 2
fi
export KERAS_BACKEND=$BACKEND
log "backend $KERAS_BACKEND; limit ${LIMIT_S}s; writing to $OUT"
{ "$PYTHON" -c "import keras; print('keras', keras.__version__, 'backend', keras.backend.backend())"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null
} 2>&1 | tee -a "$LOG"

# 3. The steps, each under what is left of the limit.
step() {  # step NAME COMMAND...
  local name=$1; shift
  local budget; budget=$(left)
  if [ "$budget" -lt 10 ]; then
    log "skip $name: no time left"
    return 0
  fi
  log "== $name (up to ${budget}s)"
  local t0=$SECONDS
  timeout --kill-after=5 "$budget" "$@" >>"$LOG" 2>&1
  local rc=$?
  log "   $name: exit $rc after $((SECONDS - t0))s"
}
config() {  # config BATCH DTYPE
  local name="config-b$1-$2"
  step "$name" "$PYTHON" -m reference_model.gpu_check config --model "$MODEL" \
    --image-size "$IMAGE_SIZE" --batch "$1" --dtype "$2" --repeats "$REPEATS" \
    --warmup "$WARMUP" --devices "$DEVICES" --out "$WORK/$name.json"
}
{
  for d in $DTYPES; do for b in $BATCHES; do echo "config-b$b-$d"; done; done
  echo train-run
  for d in $EXTRA_DTYPES; do for b in $BATCHES; do echo "config-b$b-$d"; done; done
} > "$WORK/plan.txt"

for d in $DTYPES; do for b in $BATCHES; do config "$b" "$d"; done; done
step train-run "$PYTHON" -m reference_model.gpu_check train-run --image-size "$IMAGE_SIZE" \
  --batch "$TRAIN_BATCH" --dtype "$TRAIN_DTYPE" --epochs "$TRAIN_EPOCHS" \
  --images-per-class "$TRAIN_IMAGES_PER_CLASS" --workdir "$WORK" --devices "$DEVICES" \
  --out "$WORK/train-run.json"
if [ "$CALIBRATE" = 1 ]; then
  CNNCOST_DEVICES_DIR="$WORK/devices" step calibrate "$PYTHON" -m cnncost calibrate \
    --engine keras --name measured --dtypes "float32,bfloat16" --matmul-size "$MATMUL_SIZE" \
    --repeats 10 --accept-noisy --out "$WORK/devices/measured.json"  # one shot: keep it, flagged
fi
for d in $EXTRA_DTYPES; do for b in $BATCHES; do config "$b" "$d"; done; done
# float32 at full float32 precision (XLA otherwise runs float32 convolutions on TF32 cores)
if [ "$KERAS_BACKEND" = jax ] && [ "$FP32_HIGHEST" = 1 ]; then
  b=${BATCHES##* }
  JAX_DEFAULT_MATMUL_PRECISION=highest step "config-b$b-float32-highest" "$PYTHON" -m \
    reference_model.gpu_check config --model "$MODEL" --image-size "$IMAGE_SIZE" --batch "$b" \
    --dtype float32 --repeats "$REPEATS" --warmup "$WARMUP" --devices "$DEVICES" \
    --out "$WORK/config-b$b-float32-highest.json"
fi
if [ "$CALIBRATE_KINDS" = 1 ]; then
  CNNCOST_DEVICES_DIR="$WORK/devices" step calibrate-kinds "$PYTHON" -m cnncost calibrate \
    --engine keras --kinds --name measured-kinds --dtypes float32 --matmul-size "$MATMUL_SIZE" \
    --repeats 5 --accept-noisy --out "$WORK/devices/measured-kinds.json"
fi

# 4. One JSON + one Markdown page, and the raw step files.
REPORT_S=0
timeout 60 "$PYTHON" -m reference_model.gpu_check report --workdir "$WORK" \
  --primary "${DEVICES%%,*}" --started-utc "$started_utc" --seconds "$SECONDS" \
  --json "$OUT/gpu_validate.json" --md "$OUT/gpu_validate.md" >>"$LOG" 2>&1
rc=$?
tar -czf "$OUT/gpu_validate_raw.tar.gz" -C "$WORK" --exclude synth . 2>/dev/null
log "report exit $rc; $(ls "$WORK"/*.json 2>/dev/null | wc -l) step files; ${SECONDS}s in all"
exit $rc
