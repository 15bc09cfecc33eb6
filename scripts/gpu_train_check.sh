#!/usr/bin/env bash
# A short run of the trainer itself on a GPU machine without TensorFlow (jax backend): synthetic
# DeepFashion data, `train --require-gpu`, the backend-neutral PyDataset loader, mixed precision
# on by `auto`. Copies run.json, history.csv and the test metrics to $OUT (the checkpoints stay
# behind). Keras comes from wheels in $WHEELS when missing (as scripts/gpu_validate.sh).
# Knobs: IMAGES_PER_CLASS (30), IMAGE_SIZE (256), BATCH (64), EPOCHS (4), LIMIT_S (200).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-./gpu_train_out}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/gpu_train_site}
WORK=${WORK:-/tmp/gpu_train_work}
PYTHON=${PYTHON:-python3}
LIMIT_S=${LIMIT_S:-200}
REQUIRE_GPU=${REQUIRE_GPU:-1}
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK"
rm -rf "$WORK/run" "$WORK/data"
if ! "$PYTHON" -c "import keras" 2>/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHEELS"/keras-*.whl "$WHEELS"/namex-*.whl "$WHEELS"/optree-*.whl
  export PYTHONPATH="$PYTHONPATH:$SITE"
fi
"$PYTHON" -m reference_model synth --out "$WORK/data" --images-per-class "${IMAGES_PER_CLASS:-30}" \
  --min-size 160 --max-size 320 --no-corrupt
gpu_flag=()
if [ "$REQUIRE_GPU" = 1 ]; then
  gpu_flag=(--require-gpu)
fi
# the refusal, with the GPU hidden from jax: one line, exit 2, nothing written
JAX_PLATFORMS=cpu timeout 60 "$PYTHON" -m reference_model train --data "$WORK/data" \
  --out "$WORK/none" --require-gpu > "$OUT/require_gpu_hidden.txt" 2>&1
echo "exit $? ; run folder written: $([ -e "$WORK/none" ] && echo yes || echo no)" \
  >> "$OUT/require_gpu_hidden.txt"
timeout "$LIMIT_S" "$PYTHON" -m reference_model train --data "$WORK/data" --out "$WORK/run" \
  --model seed --image-size "${IMAGE_SIZE:-256}" --batch-size "${BATCH:-64}" \
  --epochs "${EPOCHS:-4}" --split random --verbose 2 "${gpu_flag[@]}" 2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
for f in run.json history.csv eval/metrics.json; do
  [ -f "$WORK/run/$f" ] && cp "$WORK/run/$f" "$OUT/$(echo "$f" | tr / _)"
done
echo "train exit $rc"
exit "$rc"
