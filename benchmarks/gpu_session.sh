#!/usr/bin/env bash
# What issue 5 still needs a GPU for, in one call of the device tool (/work/.library/device):
# the CUDA tests (required to run, not skip), vsr bench on CUDA (stages, end to end, the limiting
# thread), the colour path and --segments on the GPU. Results go to $OUT: session.log and four
# JSON files (the tool brings back 8 files at most).
#
# The GPU machine has torch, typer, tqdm, safetensors, OpenCV and pytest, but not PyAV. Here, once:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .whl av==18.1.0
# then run: command "bash benchmarks/gpu_session.sh", carry [".whl"], timeout_s 600.
set -u -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 VSR_CACHE_DIR=/tmp/vsr-cache
OUT="${OUT:-/tmp/vsr-gpu}"
mkdir -p "$OUT"
LOG="$OUT/session.log"
step() {  # step SECONDS NAME COMMAND...: run with a time limit, log it, go on either way
    local limit=$1 name=$2
    shift 2
    echo "== $name" | tee -a "$LOG"
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    echo "== $name: exit ${PIPESTATUS[0]}" | tee -a "$LOG"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$LOG"
python3 -c "import torch, av; print(torch.__version__, torch.cuda.get_device_name(), av.__version__)" 2>&1 | tee -a "$LOG"

step 150 cuda_tests env VSR_REQUIRE_CUDA=1 python3 -m pytest -q -m cuda tests/
# 270p -> 1080p and 540p -> 4K, batch 1 and 8; eager fp16 (the default), then CUDA graphs
step 150 bench python3 -m vsr bench --device cuda --size 480x270 --size 960x540 --batch 1 --batch 8 \
    --frames 120 --json "$OUT/bench_gpu.json"
step 90 bench_compile python3 -m vsr bench --device cuda --backend compile --size 960x540 --batch 8 \
    --frames 120 --no-end-to-end --json "$OUT/bench_gpu_compile.json"
step 90 colour python3 benchmarks/colour_path.py --device cuda --size 480x270 --repeats 2 \
    --json "$OUT/colour_path_gpu.json"
step 90 segments python3 benchmarks/segments_upscale.py --device cuda --size 480x270 --frames 240 \
    --segments 1 2 4 8 --json "$OUT/segments_upscale_gpu.json"
