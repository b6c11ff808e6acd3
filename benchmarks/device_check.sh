#!/usr/bin/env bash
# The prepared device check (one `device` run, ~6 min on an H100): the guided step of issue 20 at
# M = 10^5 and 10^6 against GEMMs of the same shapes on the accelerator (bench_guided.py --large).
# The device image has jax (CUDA), equinox, optax, diffrax, scipy, matplotlib, tqdm, pillow and
# jaxtyping, not pydantic: carry its wheels. Prepare here once, in the repository root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
# Then run there (device tool: command "bash benchmarks/device_check.sh", carry [".whl"], timeout 540).
# Everything lands in $OUT (bench_guided_gpu.{json,md}, the log, the GPU's name); record the files in
# benchmarks/results/ with the device named.
set -euo pipefail
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src" PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi") > "$OUT/gpu.txt"
python3 -c "import jax, ghostjax; print(jax.__version__, jax.devices())" | tee "$OUT/jax.txt"
timeout 480 python3 benchmarks/bench_guided.py --reps 5 ${DEVICE_CHECK_ARGS:---large} --out "$OUT/bench_guided_gpu" \
  2>&1 | tee "$OUT/bench_guided_gpu.log"
