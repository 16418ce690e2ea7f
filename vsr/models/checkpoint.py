"""Generator weights on disk: safetensors with JSON metadata in the header. No pickles.

Header metadata (all strings, as safetensors requires):
  format        "vsr-generator"
  version       format version, currently "1"
  model_args    JSON of GeneratorArgs
  info          JSON with anything else worth keeping (training data, iterations, metrics)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from vsr.errors import ModelError
from vsr.models.generator import FrameRecurrentGenerator, GeneratorArgs

FORMAT = "vsr-generator"
VERSION = "1"


def save_generator(
    model: FrameRecurrentGenerator, path: str | Path, info: dict[str, Any] | None = None
) -> None:
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "model_args": json.dumps(asdict(model.args)),
        "info": json.dumps(info or {}),
    }
    save_file(tensors, str(path), metadata=metadata)
    # safetensors writes the file 0600 (a private temporary file, renamed); weights are meant to
    # be shared like any file the user writes, so give it the mode the umask allows
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def read_metadata(path: str | Path) -> tuple[GeneratorArgs, dict[str, Any]]:
    """The hyperparameters and info of a weights file, without loading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read weights {str(path)!r}: not a safetensors file ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise ModelError(f"weights {str(path)!r} are not vsr generator weights")
    if metadata.get("version") != VERSION:
        raise ModelError(
            f"weights {str(path)!r} have format version {metadata.get('version')!r}; "
            f"this vsr reads version {VERSION}"
        )
    raw = json.loads(metadata["model_args"])
    known = {f.name for f in fields(GeneratorArgs)}
    args = GeneratorArgs(**{k: v for k, v in raw.items() if k in known})
    return args, json.loads(metadata.get("info", "{}"))


def load_generator(path: str | Path) -> tuple[FrameRecurrentGenerator, dict[str, Any]]:
    """Build the generator recorded in `path` and load its weights (CPU, eval mode)."""
    args, info = read_metadata(path)
    model = FrameRecurrentGenerator.from_args(args)
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"weights {str(path)!r} do not match their model_args "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return model.eval(), info
