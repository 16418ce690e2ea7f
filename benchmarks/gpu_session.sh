#!/usr/bin/env bash
# Everything the GPU path needs a GPU for, in one call of the device tool (/work/.library/device),
# within 6 minutes by its own time limits (so a rerun fits in the 15 minutes a session gets):
# the CUDA tests (required to run, not skip), the silent-fallback checks (benchmarks/gpu_checks.py:
# no host sync in a steady-state upscale, CUDA graphs really replayed, NVDEC really decoding, NVENC
# present or reported absent), vsr bench on CUDA (stages, end to end, the limiting thread), CUDA
# graphs, the colour path and --segments on the GPU. Results go to $OUT: session.log and JSON files
# (the tool brings back 8 files at most). The script's exit status is 1 when a check failed.
#
# The GPU machine has torch, typer, tqdm, safetensors, OpenCV and pytest, but not PyAV. Here, once:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .whl av==18.1.0
# then run: command "bash benchmarks/gpu_session.sh", carry [".whl"], timeout_s 420.
set -u -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 VSR_CACHE_DIR=/tmp/vsr-cache
OUT="${OUT:-/tmp/vsr-gpu}"
mkdir -p "$OUT"
LOG="$OUT/session.log"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$LOG"
python3 -c "import torch, av; print(torch.__version__, torch.cuda.get_device_name(), av.__version__)" 2>&1 | tee -a "$LOG"

FAILED=0
step() {  # step SECONDS NAME COMMAND...: run with a time limit, log it, go on either way
    local limit=$1 name=$2
    shift 2
    echo "== $name" | tee -a "$LOG"
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc" | tee -a "$LOG"
    [ "$rc" = 0 ] || FAILED=1
}
# limits: 80 + 70 + 80 + 50 + 35 + 35 = 350 s, plus start-up
step 80 cuda_tests env VSR_REQUIRE_CUDA=1 python3 -m pytest -q -x -m cuda tests/
step 70 checks python3 benchmarks/gpu_checks.py --json "$OUT/gpu_checks.json"
# 270p -> 1080p and 540p -> 4K, batch 1 and 8; eager fp16 (the default), then CUDA graphs
step 80 bench python3 -m vsr bench --device cuda --size 480x270 --size 960x540 --batch 1 --batch 8 \
    --frames 60 --json "$OUT/bench_gpu.json"
step 50 bench_compile python3 -m vsr bench --device cuda --backend compile --size 960x540 --batch 8 \
    --frames 60 --no-end-to-end --json "$OUT/bench_gpu_compile.json"
step 35 colour python3 benchmarks/colour_path.py --device cuda --size 480x270 --repeats 1 \
    --json "$OUT/colour_path_gpu.json"
step 35 segments python3 benchmarks/segments_upscale.py --device cuda --size 480x270 --frames 120 \
    --segments 1 4 8 --json "$OUT/segments_upscale_gpu.json"
exit $FAILED
