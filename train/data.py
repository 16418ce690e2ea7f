"""Training data: folders of clips -> cached frames -> random windows of T frames.

Every clip (a video file, or a folder of PNG/JPEG frames) is decoded once into a uint8 .npy
file in the cache directory and memory-mapped afterwards, so epochs never decode again.
Window sampling is a pure function of (seed, index): resuming a run at iteration i gives exactly
the batches an uninterrupted run would have seen, with or without DataLoader workers.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vsr.degradations import Degradation, degrade

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


def load_clips(paths: list[Path], cache_dir: str | Path, max_frames: int = 300) -> list[CachedClip]:
    """Decode each clip once into `cache_dir` (keyed by path, size, mtime and frame cap); memory-map it."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for path in paths:
        stat = path.stat()
        key = hashlib.sha1(
            f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{max_frames}".encode()
        ).hexdigest()[:16]
        cached = cache_dir / f"{path.stem}-{key}.npy"
        if not cached.exists():
            log.info("decoding %s", path)
            tmp = cached.with_suffix(".tmp.npy")
            np.save(tmp, decode_clip(path, max_frames))
            tmp.rename(cached)
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
    ) -> None:
        if crop % (scale * 4):
            raise ValueError(f"crop {crop} must be a multiple of 4 x scale ({4 * scale})")
        usable = [c for c in clips if c.frames.shape[0] >= frames and min(c.frames.shape[1:3]) >= crop]
        if not usable:
            raise ValueError(f"no clip has {frames} frames of at least {crop}x{crop}")
        self.clips, self.frames, self.crop, self.scale = usable, frames, crop, scale
        self.seed, self.length, self.degradation = seed, length, degradation

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        clip = self.clips[rng.integers(len(self.clips))].frames
        t, h, w, _ = clip.shape
        t0 = rng.integers(t - self.frames + 1)
        y0, x0 = rng.integers(h - self.crop + 1), rng.integers(w - self.crop + 1)
        window = np.array(clip[t0 : t0 + self.frames, y0 : y0 + self.crop, x0 : x0 + self.crop])  # copy
        hr = torch.from_numpy(window).permute(0, 3, 1, 2).float().div_(255.0)  # (t, 3, c, c)
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


def load_validation(
    paths: list[Path], cache_dir: str | Path, frames: int, scale: int
) -> list[tuple[str, torch.Tensor]]:
    """(name, HR frames (t, 3, h, w)) of each validation clip, cropped to a multiple of 4 x scale."""
    out = []
    for clip in load_clips(paths, cache_dir, max_frames=frames):
        hr = torch.from_numpy(np.array(clip.frames)).permute(0, 3, 1, 2).float().div_(255.0)
        h, w = hr.shape[-2:]
        m = 4 * scale
        out.append((clip.path.stem, hr[..., : h - h % m, : w - w % m].contiguous()))
    return out
