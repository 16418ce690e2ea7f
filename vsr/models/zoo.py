"""The shipped models: safetensors files in vsr/models/weights/, named by their file stem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr.errors import ModelError
from vsr.models.checkpoint import load_generator, read_metadata
from vsr.models.generator import FrameRecurrentGenerator, GeneratorArgs

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_FOR_SCALE = {4: "fast-x4", 2: "fast-x2"}
BICUBIC = "bicubic"  # the built-in baseline: no model, bicubic interpolation
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".bin"}


@dataclass(frozen=True)
class ShippedModel:
    name: str
    path: Path
    args: GeneratorArgs
    info: dict[str, Any]


def shipped_models() -> list[ShippedModel]:
    models = []
    for path in sorted(WEIGHTS_DIR.glob("*.safetensors")):
        args, info = read_metadata(path)
        models.append(ShippedModel(path.stem, path, args, info))
    return models


def resolve_weights(model: str | None, scale: int) -> tuple[str, Path]:
    """(display name, path) of the weights a --model/--scale pair asks for."""
    names = [m.name for m in shipped_models()]
    if model is None:
        name = DEFAULT_FOR_SCALE.get(scale)
        if name is None or name not in names:
            have = ", ".join(f"{m.name} (x{m.args.scale})" for m in shipped_models())
            raise ModelError(f"--scale {scale}: no shipped model upscales x{scale} (shipped: {have})")
        return name, WEIGHTS_DIR / f"{name}.safetensors"
    if model in names:
        return model, WEIGHTS_DIR / f"{model}.safetensors"
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise ModelError(
                f"--model {model!r}: pickled weights are refused (they can run code); convert them to safetensors"
            )
        return str(path), path
    raise ModelError(
        f"--model {model!r} is neither a shipped model ({', '.join(names) or 'none'}) nor a weights file"
    )


def load_model(model: str | None = None, scale: int = 4) -> tuple[FrameRecurrentGenerator, dict[str, Any]]:
    """Load a shipped model by name, or weights from a path, checking it upscales by `scale`."""
    name, path = resolve_weights(model, scale)
    generator, info = load_generator(path)
    if generator.scale != scale:
        raise ModelError(
            f"--model {name!r} upscales x{generator.scale}, not x{scale}; pass --scale {generator.scale}"
        )
    return generator, {"name": name, **info}
