"""Facts about the machine: what benchmark results record, and what the runtime choice of
`--backend auto` is cached under (vsr.engine.autotune)."""

from __future__ import annotations

import os
import platform
from typing import Any

import av
import torch


def machine_info() -> dict[str, Any]:
    """What every benchmark result records about the machine it ran on."""
    cpu = platform.processor() or platform.machine()
    family_model = None  # "AMD EPYC" names Zen 3 and Zen 4 alike: family/model tell them apart
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(
                line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line
            )
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        cpu = fields.get("model name", cpu)
        if "cpu family" in fields:
            family_model = f"{fields['cpu family']}/{fields.get('model', '?')}"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_family_model": family_model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16": bool(torch.cpu._is_avx512_bf16_supported()),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "python": platform.python_version(),
    }
