"""ColorVideoVDP (Mantiuk et al., SIGGRAPH 2024): a video difference metric modelled on human
spatio-temporal and colour vision, reported in JOD (just-objectionable-difference) units, 10 for
a video indistinguishable from its reference. It needs no network weights: the `cvvdp` package
ships its calibration tables. It imports torchvision, whose PyPI builds must match torch exactly,
so it is the optional extra `vsr[jod]` (see the README).

Frames are scored as display-encoded sRGB on a display model (default "standard_fhd": a 24-inch
full-HD monitor, 200 cd/m2, seen from 60 cm); the content keeps its own pixel size on it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from vsr.errors import BackendUnavailableError, InputError

DISPLAY = "standard_fhd"


@cache
def _metric(display: str) -> Any:  # noqa: ANN401 - pycvvdp.cvvdp, imported lazily
    try:
        import pycvvdp
        import torch
    except ImportError as exc:
        raise BackendUnavailableError(
            f"JOD needs ColorVideoVDP ({exc.name or exc} is missing): pip install 'vsr[jod]'"
        ) from None
    return pycvvdp.cvvdp(display_name=display, device=torch.device("cpu"), quiet=True)


def require(display: str = DISPLAY) -> None:
    """Raise BackendUnavailableError now, before any work, if ColorVideoVDP cannot run."""
    _metric(display)


def available() -> bool:
    try:
        require()
    except BackendUnavailableError:
        return False
    return True


def jod(output: np.ndarray, reference: np.ndarray, fps: float, display: str = DISPLAY) -> float:
    """JOD of `output` against `reference`: uint8 RGB, (frames, h, w, 3) with `fps` > 0 for a video,
    or (h, w, 3) with fps 0 for one image."""
    if output.shape != reference.shape:
        raise InputError(f"JOD compares same-size frames: {output.shape} against {reference.shape}")
    if output.dtype != np.uint8 or reference.dtype != np.uint8:
        raise InputError("JOD takes 8-bit RGB frames")
    video = output.ndim == 4
    if video and fps <= 0:
        raise InputError("JOD of a video needs its frame rate")
    dims = "FHWC" if video else "HWC"
    quality, _ = _metric(display).predict(
        output, reference, dim_order=dims, frames_per_second=fps if video else 0
    )
    return float(quality)
