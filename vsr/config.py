"""Frozen, validated configuration of a run. Built by the CLI or by vsr.upscale()."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr.errors import OptionError

CODEC_DEFAULT = "libx264"
COLOUR = ("auto", "device", "swscale")
BACKENDS = ("auto", "eager", "compile", "ort", "openvino", "openvino-int8", "trt")


@dataclass(frozen=True)
class UpscaleConfig:
    input: Path
    output: Path
    model: str | None = None  # shipped name or path to weights; None: the default for `scale`
    scale: int = 4
    device: str = "auto"
    dtype: str = "auto"
    backend: str = "auto"
    codec: str = CODEC_DEFAULT
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str | None = None
    batch: int = 8
    stream: int | None = None
    overwrite: bool = False
    progress: bool = True
    trust_pickle: bool = False  # allow pickled (.pt) training checkpoints as --model
    on_error: str = "fail"  # damaged input: fail, or skip (conceal, count and go on)
    resume: bool = False  # keep finished segments in a journal beside the output; continue from it
    checkpoint_every: float = 10.0  # seconds of video per segment with --resume
    segments: int = 1  # parts of the video upscaled side by side in one batch (segment-parallel)
    warmup: int = 4  # frames each part but the first starts early, to warm its recurrent state
    colour: str = "auto"  # YUV<->RGB: on the model's device, in swscale, or auto (device on CUDA)
    hwaccel: str = "auto"  # decoding: none, cuda[:N] (NVDEC), or auto (NVDEC when the model runs on CUDA)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **fields: Any) -> UpscaleConfig:
        """A config from a command's keyword arguments: those named like a field of this class
        (the others, such as Ray's, are the command's own), then `fields` over them."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in options.items() if k in names}, **fields})

    def __post_init__(self) -> None:
        object.__setattr__(self, "input", Path(self.input))
        object.__setattr__(self, "output", Path(self.output))
        if self.scale not in (2, 3, 4):
            raise OptionError(f"--scale must be 2, 3 or 4, got {self.scale}")
        if self.backend not in BACKENDS:
            raise OptionError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.batch < 1:
            raise OptionError(f"--batch must be at least 1, got {self.batch}")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise OptionError(f"--crf must be between 0 and 63, got {self.crf}")
        if self.on_error not in ("fail", "skip"):
            raise OptionError(f"--on-error must be fail or skip, got {self.on_error!r}")
        if not self.checkpoint_every > 0:
            raise OptionError(
                f"--checkpoint-every must be a positive number of seconds, got {self.checkpoint_every}"
            )
        if self.segments < 1:
            raise OptionError(f"--segments must be at least 1, got {self.segments}")
        if self.warmup < 0:
            raise OptionError(f"--warmup must be 0 or more frames, got {self.warmup}")
        if self.segments > 1 and self.resume:
            raise OptionError("--segments and --resume cannot be combined yet; pick one")
        if self.colour not in COLOUR:
            raise OptionError(f"--colour must be one of {', '.join(COLOUR)}, got {self.colour!r}")
        if self.hwaccel not in ("auto", "none") and self.hwaccel.partition(":")[0] != "cuda":
            raise OptionError(f"--hwaccel must be auto, none or cuda[:N], got {self.hwaccel!r}")
        if self.stream is not None and self.stream < 0:
            raise OptionError(f"--stream must be a stream index >= 0, got {self.stream}")
