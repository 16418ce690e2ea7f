"""Facts about the machine: what benchmark results record, and what the runtime choice of
`--backend auto` is cached under (vsr.engine.autotune)."""

from __future__ import annotations

import os
import platform
from typing import Any

import av
import torch

# oneDNN's names for the ISAs that have AVX512-BF16 (ONEDNN_MAX_CPU_ISA at one of these, or unset,
# leaves bf16 native; anything lower, AVX2 say, makes oneDNN emulate it).
_BF16_ISAS = {
    "ALL",
    "DEFAULT",
    "AVX512_CORE_BF16",
    "AVX512_CORE_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512",
    "AVX10_1_512_AMX",
    "AVX10_1_512_AMX_FP16",
    "AVX10_2_512",
    "AVX10_2_512_AMX_2",
}


def native_bf16() -> bool:
    """Whether bf16 runs natively: the CPU has AVX512-BF16 and neither ONEDNN_MAX_CPU_ISA nor
    ATEN_CPU_CAPABILITY caps the ISA below it. Under an AVX2 cap (how an AVX2 laptop is measured
    from a newer CPU) oneDNN emulates bf16: fast-x4's step ran 3.5-4.1 fps in bf16 against ~17 in
    fp32 (Zen 4 capped to AVX2), so `--dtype auto` must take fp32 there, as the laptop would."""
    if not torch.cpu._is_avx512_bf16_supported():
        return False
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa and isa not in _BF16_ISAS:
        return False
    return os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower() not in ("default", "avx2")


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
        "bf16": native_bf16(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "python": platform.python_version(),
    }
