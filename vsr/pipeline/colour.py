"""Where a file's colour conversion runs: YUV<->RGB on the model's device (8-bit 4:2:0 with a
matrix vsr converts), 4:2:0 planes resized as they are (bicubic on the CPU), or swscale."""

from __future__ import annotations

import logging

import torch

from vsr.config import UpscaleConfig
from vsr.engine.runner import BicubicRunner, ColourPlan, Runner
from vsr.engine.yuv import YuvMatrix, supports_matrix
from vsr.io.reader import VideoInfo
from vsr.io.writer import EncodeSettings, output_pix_fmt

log = logging.getLogger(__name__)


def colour_on_device(colour: str, device: torch.device) -> bool:
    """--colour: device, or auto on CUDA (where it saves the copies most); swscale otherwise."""
    return colour == "device" or (colour == "auto" and device.type == "cuda")


def colour_plan(
    cfg: UpscaleConfig,
    info: VideoInfo,
    device: torch.device,
    settings: EncodeSettings,
    out_height: int,
    planes: bool = False,
) -> ColourPlan | None:
    """Convert YUV<->RGB on the model's device where input and output are 8-bit 4:2:0 with a
    known matrix; None: swscale converts on the CPU.

    `planes` (bicubic on the CPU): with --colour auto, keep 4:2:0 end to end where the input and
    output matrices are the same, and let the runner resize the planes (no RGB at all)."""
    wanted = colour_on_device(cfg.colour, device) or (planes and cfg.colour == "auto")
    if not wanted:
        return None
    pix_fmt, out_info = output_pix_fmt(info, out_height, settings)
    why = None
    if info.pix_fmt not in ("yuv420p", "nv12"):
        why = f"the input is {info.pix_fmt}"
    elif info.width % 2 or info.height % 2:
        why = f"the input's size {info.width}x{info.height} is odd"
    elif pix_fmt != "yuv420p":
        why = f"the output is {pix_fmt}"
    elif not (supports_matrix(info.colorspace) and supports_matrix(out_info.colorspace)):
        why = "the input's colour matrix is not one vsr converts"
    if why is not None:
        if cfg.colour == "device":
            log.warning("--colour device: %s, so swscale converts instead", why)
        return None
    plan = ColourPlan(
        YuvMatrix.from_tags(info.colorspace, info.color_range),
        YuvMatrix.from_tags(out_info.colorspace, out_info.color_range),
    )
    if planes and cfg.colour == "auto" and plan.input != plan.output:
        return None  # a matrix change needs RGB in between: swscale's
    return plan


def colour_label(runner: Runner | BicubicRunner) -> str:
    """Where the colour work of a run happened, for its report."""
    if runner.colour is None:
        return "swscale"
    planes = isinstance(runner, BicubicRunner) and runner.device.type == "cpu"
    return "planes" if planes and runner.colour.input == runner.colour.output else "device"
