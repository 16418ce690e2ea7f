"""vsr: video super-resolution with a frame-recurrent GAN generator.

import vsr
report = vsr.upscale("in.mp4", "out.mp4")          # x4 with the default shipped model
model, info = vsr.load_model("fast-x4")            # a FrameRecurrentGenerator (torch)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vsr.version import __version__

__all__ = ["__version__", "load_model", "upscale"]


def upscale(input: str | Path, output: str | Path, **options: Any):  # -> UpscaleReport
    """Upscale a video file to `output`. Options are the fields of vsr.config.UpscaleConfig
    (scale, model, device, dtype, backend, codec, crf, preset, pix_fmt, batch, stream, overwrite,
    progress, trust_pickle, on_error, resume, checkpoint_every, segments, warmup).
    """
    from vsr.config import UpscaleConfig
    from vsr.pipeline.offline import upscale_file

    return upscale_file(UpscaleConfig(input=Path(input), output=Path(output), **options))


def load_model(model: str | None = None, scale: int = 4):  # -> (FrameRecurrentGenerator, dict)
    """A shipped model by name (None: the default for `scale`) or weights from a .safetensors path."""
    from vsr.models.zoo import load_model as _load

    return _load(model, scale)
