"""Training data: folders of clips -> cached frames -> random windows of T frames.

Every clip (a video file, or a folder of PNG/JPEG frames) is decoded once into a uint8 .npy
file in the cache directory and memory-mapped afterwards, so epochs never decode again.
Window sampling is a pure function of (seed, index): resuming a run at iteration i gives exactly
the batches an uninterrupted run would have seen, with or without DataLoader workers.

Two kinds of window besides plain ones (each drawn with its own probability):
- moving (TecoGAN): one frame, cropped at a window that slides by a whole number of HR pixels per
  frame. The motion is exact and mostly sub-LR-pixel (1-3 HR pixels at x4), which is what a
  recurrent state can turn into detail.
- soft: the HR window is blurred or resampled down and up before it is degraded, and that soft
  frame is the target, so the model learns not to invent detail the LR frame does not show
  (footage that is defocused, resampled or already upscaled).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vsr.degradations import Degradation, blur, degrade, gaussian_kernel

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".m4v"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def find_clips(root: str | Path) -> list[Path]:
    """Video files and frame folders under `root`, sorted by path."""
    root = Path(root)
    clips = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    clips += [
        d
        for d in [root, *root.rglob("*")]
        if d.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir())
    ]
    return sorted(clips)


def decode_clip(path: Path, max_frames: int) -> np.ndarray:
    """(t, h, w, 3) uint8 RGB frames of a clip, at most `max_frames`."""
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)[:max_frames]
        return np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= max_frames:
                break
    return np.stack(frames)


@dataclass(frozen=True)
class CachedClip:
    path: Path
    frames: np.ndarray  # (t, h, w, 3) uint8, memory-mapped


def split_clips(paths: list[Path], every: int = 10) -> tuple[list[Path], list[Path]]:
    """A deterministic (train, validation) split: a clip is held out when the hash of its name
    falls in 1 of `every` buckets; at least one clip is held out when there are two or more."""
    held = [p for p in paths if int(hashlib.sha1(p.name.encode()).hexdigest(), 16) % every == 0]
    if not held and len(paths) > 1:
        held = [min(paths, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())]
    return [p for p in paths if p not in held], held


# Training sources held out as validation, by source (issue 27): every clip whose name starts
# with one of these is validated on and never trained on, beside ../shared/data/val. Tune-A-Video's
# four DAVIS-style clips (sport, vehicles, animals) and Video-LLaVA's two indoor clips (watermarked
# web video); see ../shared/data/MANIFEST.md.
HOLDOUT_SOURCES = ("tuneavideo_", "videollava_")


def holdout_split(paths: list[Path], prefixes: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """(kept for training, held out): a clip is held out when its name starts with a prefix."""
    held = [p for p in paths if p.name.startswith(prefixes)]
    return [p for p in paths if p not in held], held


def _content_key(path: Path, max_frames: int) -> str:
    """A hash of what a clip holds (its bytes, or its frame files' names and bytes) and the frame
    cap. Not the mtime: data folders that are copied afresh would otherwise be decoded again
    into a new entry each time, and the cache would grow without bound."""
    digest = hashlib.sha1(f"{max_frames}|".encode())
    files = (
        sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    )
    for file in files:
        digest.update(f"{file.name}|{file.stat().st_size}|".encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_clips(paths: list[Path], cache_dir: str | Path, max_frames: int = 300) -> list[CachedClip]:
    """Decode each clip once into `cache_dir` (keyed by its content and the frame cap); memory-map
    it. A clip's entries from older contents or frame caps are removed when it is decoded again."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for path in paths:
        where = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
        prefix = f"{path.stem}-{where}-"
        cached = cache_dir / f"{prefix}{_content_key(path, max_frames)}.npy"
        if not cached.exists():
            log.info("decoding %s", path)
            tmp = cache_dir / f"{cached.stem}.{os.getpid()}.tmp"  # runs started together race here
            with open(tmp, "wb") as handle:
                np.save(handle, decode_clip(path, max_frames))
            tmp.replace(cached)
            for stale in cache_dir.glob(f"{prefix}*.npy"):
                if stale != cached:
                    stale.unlink(missing_ok=True)
        clips.append(CachedClip(path, np.load(cached, mmap_mode="r")))
    return clips


class WindowDataset(Dataset):
    """Item i: a random window of `frames` consecutive HR frames, cropped, augmented, degraded.

    Returns (lr (t, 3, crop/scale, crop/scale), hr (t, 3, crop, crop)) float tensors in [0, 1].
    """

    def __init__(
        self,
        clips: list[CachedClip],
        *,
        frames: int,
        crop: int,
        scale: int,
        seed: int,
        length: int,
        degradation: Degradation = "BI",
        moving: float = 0.0,
        soft: float = 0.0,
        max_speed: int = 4,
    ) -> None:
        if crop % (scale * 4):
            raise ValueError(f"crop {crop} must be a multiple of 4 x scale ({4 * scale})")
        usable = [c for c in clips if c.frames.shape[0] >= frames and min(c.frames.shape[1:3]) >= crop]
        if not usable:
            raise ValueError(f"no clip has {frames} frames of at least {crop}x{crop}")
        self.clips, self.frames, self.crop, self.scale = usable, frames, crop, scale
        self.seed, self.length, self.degradation = seed, length, degradation
        self.moving, self.soft, self.max_speed = moving, soft, max_speed

    def __len__(self) -> int:
        return self.length

    def _window(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(t, c, c, 3) uint8: consecutive frames, or one frame seen through a sliding crop."""
        t, h, w, _ = clip.shape
        n, c = self.frames, self.crop
        if self.moving and rng.random() < self.moving:
            vy, vx = rng.integers(-self.max_speed, self.max_speed + 1, size=2)  # HR pixels per frame
            span_y, span_x = c + abs(vy) * (n - 1), c + abs(vx) * (n - 1)
            if span_y <= h and span_x <= w:
                frame = clip[rng.integers(t)]
                y0, x0 = rng.integers(h - span_y + 1), rng.integers(w - span_x + 1)
                ys = [y0 + (i if vy >= 0 else n - 1 - i) * abs(vy) for i in range(n)]
                xs = [x0 + (i if vx >= 0 else n - 1 - i) * abs(vx) for i in range(n)]
                return np.stack([frame[y : y + c, x : x + c] for y, x in zip(ys, xs, strict=True)])
        t0 = rng.integers(t - n + 1)
        y0, x0 = rng.integers(h - c + 1), rng.integers(w - c + 1)
        return np.array(clip[t0 : t0 + n, y0 : y0 + c, x0 : x0 + c])  # copy

    def _soften(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(t, 3, c, c) -> the same frames without their finest detail (blurred or resampled)."""
        if rng.random() < 0.5:
            sigma = rng.uniform(0.6, 2.0)
            return blur(hr, gaussian_kernel(sigma, sigma, 0.0, size=13)).clamp(0, 1)
        c = hr.shape[-1]
        small = max(8, round(c / rng.uniform(1.5, 3.0)))
        down = F.interpolate(hr, size=(small, small), mode="bicubic", antialias=True, align_corners=False)
        return F.interpolate(down, size=(c, c), mode="bicubic", align_corners=False).clamp(0, 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        clip = self.clips[rng.integers(len(self.clips))].frames
        window = self._window(clip, rng)
        hr = torch.from_numpy(window).permute(0, 3, 1, 2).float().div_(255.0)  # (t, 3, c, c)
        if self.soft and rng.random() < self.soft:
            hr = self._soften(hr, rng)
        flips = rng.integers(2, size=4)
        if flips[0]:
            hr = hr.flip(-1)
        if flips[1]:
            hr = hr.flip(-2)
        if flips[2]:
            hr = hr.transpose(-1, -2)
        if flips[3]:
            hr = hr.flip(0)  # time reversal
        hr = hr.contiguous()
        return degrade(hr, self.scale, self.degradation, rng), hr


VAL_SEED = 1000  # compare_temporal.py's seed base for its "real" LR


def load_validation(
    paths: list[Path], cache_dir: str | Path, frames: int, scale: int, degradation: str = "BI"
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, HR frames (t, 3, h, w), LR frames) of each validation clip, HR cropped to a multiple
    of 4 x scale. Random degradations are seeded by the clip's place in `paths` (as the "real"
    setting of benchmarks/compare_temporal.py seeds them), so every validation sees the same LR.
    With several degradations ("BI,BD+H264") the name is "setting/clip"."""
    kinds = degradation.split(",")
    out = []
    for index, clip in enumerate(load_clips(paths, cache_dir, max_frames=frames)):
        hr = torch.from_numpy(np.array(clip.frames)).permute(0, 3, 1, 2).float().div_(255.0)
        h, w = hr.shape[-2:]
        m = 4 * scale
        hr = hr[..., : h - h % m, : w - w % m].contiguous()
        for kind in kinds:
            lr = degrade(hr, scale, kind, np.random.default_rng(VAL_SEED + index))
            out.append((clip.path.stem if len(kinds) == 1 else f"{kind}/{clip.path.stem}", hr, lr))
    return out
