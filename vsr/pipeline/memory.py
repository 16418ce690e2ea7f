"""Does a job fit in memory? Decided from the output size before the first frame is upscaled.

The estimate is fitted to peak RSS measured on the 2-core CPU machine (fast-x4, bf16, outputs of
0.9 to 8.3 Mpx; `python benchmarks/memory.py --sizes`, benchmarks/results/memory_sizes_cpu.json):
about 335 MiB of libraries and weights, plus ~120 bytes per output pixel that do not depend on
--batch (the model's float output, colour conversion, the encoder's picture buffers) and 27 to 51
bytes per output pixel per frame of --batch (frames queued between the stages). The constants
below round those up: the estimate is 1.3 to 1.7 times the measured peaks, so a job is refused
or its batch lowered only with a margin.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vsr.errors import InputError

log = logging.getLogger(__name__)

BASE_BYTES = 600 * 2**20
BYTES_PER_PIXEL = 120
BYTES_PER_PIXEL_PER_FRAME = 48


def estimate_bytes(width: int, height: int, batch: int) -> int:
    """Peak memory of upscaling to `width` x `height` output frames with `batch` frames per batch."""
    pixels = width * height
    return BASE_BYTES + pixels * (BYTES_PER_PIXEL + BYTES_PER_PIXEL_PER_FRAME * batch)


def _cgroup_room() -> int | None:
    """Memory left under a cgroup v2 limit (containers), if one is set."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def available_bytes() -> int | None:
    """Memory this process can still get: MemAvailable, lowered by a cgroup limit; None if unknown."""
    room = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                room = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    cgroup = _cgroup_room()
    if cgroup is not None:
        room = cgroup if room is None else min(room, cgroup)
    return room


def fit_batch(width: int, height: int, batch: int, available: int | None = None) -> int:
    """The largest batch <= `batch` whose estimate fits; InputError if not even one frame does."""
    available = available_bytes() if available is None else available
    if available is None:
        return batch
    fitted = batch
    while fitted > 1 and estimate_bytes(width, height, fitted) > available:
        fitted //= 2
    need = estimate_bytes(width, height, fitted)
    if need > available:
        raise InputError(
            f"output frames of {width}x{height} ({width * height / 1e6:.0f} Mpx) need about "
            f"{need / 2**30:.1f} GiB of memory and {available / 2**30:.1f} GiB are available: "
            "lower --scale or downscale the input first"
        )
    if fitted < batch:
        log.warning("--batch %d lowered to %d to fit %dx%d frames in memory", batch, fitted, width, height)
    return fitted


# On a GPU the batch's frames live on the device as well. Not fitted (no GPU has been measured):
# counted from the tensors a batch frame holds there (the float32 HR output, 12 bytes a pixel; the
# pixel-shuffled and rounded copies, about 15; the colour conversion's planes, a few more) and
# doubled for the allocator's slack; plus the CUDA context, cuDNN workspaces and weights.
GPU_BASE_BYTES = 2**30
GPU_BYTES_PER_PIXEL_PER_FRAME = 64


def fit_batch_gpu(width: int, height: int, batch: int, free: int) -> int:
    """The largest batch <= `batch` whose GPU estimate fits in `free` bytes of device memory
    (torch.cuda.mem_get_info); InputError if not even one frame does."""

    def need(n: int) -> int:
        return GPU_BASE_BYTES + width * height * GPU_BYTES_PER_PIXEL_PER_FRAME * n

    fitted = batch
    while fitted > 1 and need(fitted) > free:
        fitted //= 2
    if need(fitted) > free:
        raise InputError(
            f"output frames of {width}x{height} ({width * height / 1e6:.0f} Mpx) need about "
            f"{need(fitted) / 2**30:.1f} GiB of GPU memory and {free / 2**30:.1f} GiB are free: "
            "lower --scale, or run on the CPU (--device cpu)"
        )
    if fitted < batch:
        log.warning(
            "--batch %d lowered to %d to fit %dx%d frames in GPU memory", batch, fitted, width, height
        )
    return fitted
