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
REALTIME_FOR_SCALE = {4: "rt-x4"}  # what `vsr live` falls back to when the model cannot keep up
# What each shipped model is for, one line each (`vsr models`).
USES = {
    "fast-x4": "clean sources, files and live streams",
    "fast-x2": "x2 of clean sources",
    "quality-x4": "offline files of clean sources: +0.5 dB over fast-x4, about 4x slower",
    "rt-x4": "live streams on CPUs too slow for fast-x4 (vsr live's automatic fallback)",
    "gan-x4": "offline files, crisper texture: 1.6x quality-x4's fine detail, 0.5 dB lower PSNR, more temporal wobble",
    "real-x4": "noisy camera footage, compressed streams and web video: cleans noise and blocking; quality-x4's cost",
}
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


def resolve_weights(model: str | None, scale: int, trust_pickle: bool = False) -> tuple[str, Path]:
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
        if path.suffix.lower() in PICKLE_SUFFIXES and not trust_pickle:
            raise ModelError(
                f"--model {model!r}: pickled weights are refused (they can run code); convert them to "
                "safetensors (python -m train.export), or pass --trust-pickle for a file you trust"
            )
        return str(path), path
    raise ModelError(
        f"--model {model!r} is neither a shipped model ({', '.join(names) or 'none'}) nor a weights file"
    )


def live_fallback(choice: str, model: str, scale: int) -> list[str]:
    """What serves a live source while `model` drops frames, in order (each takes over while the
    one before it drops frames): `choice` is comma-separated models or "bicubic", "none", or
    "auto": the shipped real-time model of this scale (unless that is the model already), then
    bicubic; nothing when the model is bicubic."""
    if choice == "none":
        return []
    if choice != "auto":
        return [name.strip() for name in choice.split(",") if name.strip()]
    if model == BICUBIC:
        return []
    realtime = REALTIME_FOR_SCALE.get(scale)
    if realtime and realtime != model and (WEIGHTS_DIR / f"{realtime}.safetensors").is_file():
        return [realtime, BICUBIC]
    return [BICUBIC]


def _load_pickle(path: Path) -> tuple[FrameRecurrentGenerator, dict[str, Any]]:
    """A training checkpoint (RUN/ckpt.pt): unpickled in full, so only with --trust-pickle."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        generator = FrameRecurrentGenerator.from_args(GeneratorArgs(**ckpt["model_args"]))
        generator.load_state_dict(ckpt.get("ema") or ckpt["model"])
    except Exception as exc:  # noqa: BLE001 - any failure means "not a checkpoint we can read"
        raise ModelError(
            f"--model {str(path)!r} is not a vsr training checkpoint ({type(exc).__name__})"
        ) from None
    return generator, {"iterations": ckpt.get("iter"), "source": "training checkpoint"}


def load_model(
    model: str | None = None, scale: int = 4, trust_pickle: bool = False
) -> tuple[FrameRecurrentGenerator, dict[str, Any]]:
    """Load a shipped model by name, or weights from a path, checking it upscales by `scale`.

    Pickled files (.pt, .pth...) can run code when loaded; they are refused unless `trust_pickle`."""
    name, path = resolve_weights(model, scale, trust_pickle)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        generator, info = _load_pickle(path)
    else:
        generator, info = load_generator(path)
    if generator.scale != scale:
        raise ModelError(
            f"--model {name!r} upscales x{generator.scale}, not x{scale}; pass --scale {generator.scale}"
        )
    return generator, {"name": name, **info}
