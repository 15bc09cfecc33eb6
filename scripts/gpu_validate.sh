#!/usr/bin/env bash
# Profile the seed CNN and three keras.applications models on a GPU machine that has Keras 3
# with jax or torch but no TensorFlow; write profile.json files (and a calibrated device
# profile) under $OUT to fetch back, then validate them here with
#   python -m reference_model validate x --profile <file> --device <gpu name>
#
# If `import keras` fails, the Keras wheel carried in .whl/ is installed (no network needed):
#   pip download keras==3.15.1 --no-deps -d .whl     # on a machine with PyPI, before carrying
# (Keras's own dependencies -- numpy, h5py, namex, optree, ml-dtypes, rich, absl-py -- ship
# with jax/torch images; add them to .whl/ with `pip download -d .whl <name>` if not.)
#
# Knobs (environment): OUT (default ./gpu_profiles), MODELS, BATCHES, DTYPES, IMAGE_SIZE
# (empty: each model's default), REPEATS, WARMUP, BACKEND (jax | torch | tensorflow; default
# the first of jax, torch importable), EXTRA (more profile flags, e.g. --no-layers).
# Dry run on a CPU: OUT=/tmp/dry MODELS="seed MobileNetV2" BATCHES="1 2" IMAGE_SIZE=32 \
#   REPEATS=2 WARMUP=1 BACKEND=tensorflow bash scripts/gpu_validate.sh
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-./gpu_profiles}
MODELS=${MODELS:-"seed ResNet50 MobileNetV2 EfficientNetB0"}
BATCHES=${BATCHES:-"1 64"}
DTYPES=${DTYPES:-"float32 bfloat16"}
IMAGE_SIZE=${IMAGE_SIZE:-}
REPEATS=${REPEATS:-20}
WARMUP=${WARMUP:-5}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CNNCOST_DEVICES_DIR="$OUT/devices"

if ! python -c "import keras" 2>/dev/null; then
  wheel=$(ls .whl/keras-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "gpu_validate: keras is not installed and no .whl/keras-*.whl was carried" >&2
    exit 2
  fi
  python -m pip install --no-index --find-links .whl "$wheel"
fi

if [ -z "${BACKEND:-}" ]; then
  for candidate in jax torch; do
    if python -c "import $candidate" 2>/dev/null; then BACKEND=$candidate; break; fi
  done
fi
if [ -z "${BACKEND:-}" ]; then
  echo "gpu_validate: neither jax nor torch is importable (set BACKEND=tensorflow to use TF)" >&2
  exit 2
fi
export KERAS_BACKEND=$BACKEND
echo "backend $KERAS_BACKEND; writing to $OUT"
python - <<'PY' > "$OUT/environment.txt" 2>&1 || true
import platform, keras
print("python", platform.python_version(), "keras", keras.__version__, "backend", keras.backend.backend())
b = keras.backend.backend()
if b == "jax":
    import jax; print("jax", jax.__version__, jax.devices())
elif b == "torch":
    import torch; print("torch", torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))
PY
nvidia-smi >> "$OUT/environment.txt" 2>&1 || true

# This machine's own roofline figures, through the same backend the models run on.
python -m cnncost calibrate --engine keras --name measured --dtypes "float32,bfloat16" \
  --matmul-size "${MATMUL_SIZE:-8192}" --repeats 10 --out "$OUT/devices/measured.json" \
  || echo "gpu_validate: calibrate failed (continuing with the datasheet profiles)" >&2

size_flag=()
if [ -n "$IMAGE_SIZE" ]; then size_flag=(--image-size "$IMAGE_SIZE"); fi
failures=0
for model in $MODELS; do
  for batch in $BATCHES; do
    for dtype in $DTYPES; do
      file="$OUT/$model.b$batch.$dtype.profile.json"
      echo "== $model batch $batch $dtype"
      # shellcheck disable=SC2086
      if ! python -m reference_model profile "$model" --batch "$batch" --dtype "$dtype" \
          --repeats "$REPEATS" --warmup "$WARMUP" "${size_flag[@]}" $EXTRA --out "$file" \
          > "$file.log" 2>&1; then
        echo "   failed: see $file.log" >&2
        failures=$((failures + 1))
      else
        tail -n1 "$file.log"
      fi
    done
  done
done
echo "done: $(ls "$OUT"/*.profile.json 2>/dev/null | wc -l) profiles, $failures failed, in $OUT"
[ "$failures" -eq 0 ]
