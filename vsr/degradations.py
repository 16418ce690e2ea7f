"""How LR inputs are made from HR frames, for training and evaluation.

- "BI": antialiased bicubic downscale, 8-bit quantised (the VSR benchmark degradation).
- "BD": Gaussian blur (sigma 1.6, the VSR benchmarks' BD) then sampling at the centre of each
  scale x scale block, 8-bit quantised. The benchmarks' MATLAB recipe keeps the first pixel of each
  block instead, which moves the whole picture (scale - 1) / 2 HR pixels up and left: no camera or
  scaler does that, and a score on it measures registration more than restoration.
- Fixed compressed settings, the evaluation's (deterministic, no random draw): "BI+H264" (libx264
  CRF 23), "BI+H264-28" (CRF 28), "BD+H264" (BD then CRF 23) and "BI+H265-28" (libx265 CRF 28),
  each at the encoder's "medium" preset.
- "real": a RealBasicVSR-style mix applied twice: random blur, random resize, Gaussian or Poisson
  noise, and H.264/H.265 compression through PyAV at a random CRF. The parameters are drawn once
  per window so every frame of a sequence sees the same camera and codec.
- "web": one milder round calibrated on real low-resolution footage (benchmarks/calibrate_real.py):
  an optional light blur, a resize that may alias, optional camera sharpening, light noise, then
  H.264 at a random CRF. Real web, phone and old-film sources measure far less noise and blur
  than "real" produces, and are sharper than BI.
- "mixed": "real" or "web", drawn per window with equal odds: one model for heavily degraded
  camera footage and for lightly compressed web video.
- "broad": "real" (40 %), "web" (30 %) or "clean" (30 %: BI then H.264 at CRF 18-32, nothing
  else), drawn per window. "mixed" almost never shows a model a clean, well-scaled source (about
  1 window in 20 of "web" has no blur, noise or sharpening), so a model trained on it smooths such
  sources; "broad" keeps them in view.
- "blind": a model for footage of unknown origin (issue 27). Per window: a clean share (40 %: BI,
  then lossless or H.264 at CRF 18-35); the rest get an optional isotropic or anisotropic Gaussian
  blur (sigma up to 2.5), one of four downscale kernels (antialiased bicubic, area, bilinear, or
  point sampling at block centres as BD does), optional light sensor-like noise (signal-dependent, in colour or
  luma only), then mostly H.264 or H.265 at CRF 18-35 with a random preset and GOP length,
  sometimes twice; what stays uncompressed gets its chroma halved (4:2:0) half the time.

Frames are float RGB in [0, 1], shaped (t, 3, h, w) (or (..., 3, h, w) for BI/BD).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal, get_args

import av
import numpy as np
import torch
import torch.nn.functional as F

Degradation = Literal[
    "BI", "BD", "BI+H264", "BI+H264-28", "BD+H264", "BI+H265-28", "real", "web", "mixed", "broad", "blind"
]
DEGRADATIONS: tuple[str, ...] = get_args(Degradation)
# The evaluation's fixed settings: name -> (base degradation, codec, CRF); codec None = lossless.
EVAL_SETTINGS: dict[str, tuple[str, str | None, int]] = {
    "BI": ("BI", None, 0),
    "BD": ("BD", None, 0),
    "BI+H264": ("BI", "libx264", 23),
    "BI+H264-28": ("BI", "libx264", 28),
    "BD+H264": ("BD", "libx264", 23),
    "BI+H265-28": ("BI", "libx265", 28),
}
BLIND_CLEAN = 0.4  # share of "blind" windows that are clean BI (lossless or H.264 only)
BROAD_ODDS = {"real": 0.4, "web": 0.3, "clean": 0.3}
H264_PRESETS = (
    "veryfast",
    "faster",
    "medium",
)  # what "web" and "clean" draw (ultrafast turns deblocking off)


def crop_to_multiple(frames: torch.Tensor, multiple: int) -> torch.Tensor:
    """Crop (..., h, w) at the bottom/right so that h and w are multiples of `multiple`."""
    h, w = frames.shape[-2:]
    return frames[..., : h - h % multiple, : w - w % multiple]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels, as an LR frame stored losslessly would be."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0


def _flat(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Size]:
    return frames.reshape(-1, *frames.shape[-3:]), frames.shape[:-3]


def bicubic_downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The "BI" degradation: antialiased bicubic downscale by `scale`, quantised to 8 bits.

    hr is (..., 3, h, w) in [0, 1] with h and w multiples of `scale`.
    """
    flat, lead = _flat(hr)
    lr = F.interpolate(flat, scale_factor=1.0 / scale, mode="bicubic", antialias=True, align_corners=False)
    return quantize(lr).reshape(*lead, *lr.shape[-3:])


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float, size: int = 21) -> torch.Tensor:
    """(size, size) normalised anisotropic Gaussian, rotated by theta radians."""
    r = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).float()


def blur(frames: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of (n, 3, h, w) with a (k, k) kernel, reflect padding."""
    k = kernel.shape[-1]
    weight = kernel.to(frames).expand(frames.shape[1], 1, k, k)
    padded = F.pad(frames, (k // 2,) * 4, mode="reflect")
    return F.conv2d(padded, weight, groups=frames.shape[1])


def centre_sample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """(n, c, h, w) -> (n, c, h/scale, w/scale): the value at the centre of each scale x scale block
    (for an even scale, the mean of the middle 2x2), on the same grid as every centred scaler."""
    h, w = x.shape[-2:]
    return F.interpolate(x, size=(h // scale, w // scale), mode="bilinear", align_corners=False)


def blur_downscale(hr: torch.Tensor, scale: int, sigma: float = 1.6) -> torch.Tensor:
    """The "BD" degradation: Gaussian blur (sigma 1.6, 13x13), then each block's centre sample."""
    flat, lead = _flat(hr)
    lr = centre_sample(blur(flat, gaussian_kernel(sigma, sigma, 0.0, size=13)), scale)
    return quantize(lr).reshape(*lead, *lr.shape[-3:])


def compress(
    frames: torch.Tensor, codec: str, crf: int, preset: str | None = None, gop: int | None = None
) -> torch.Tensor:
    """Encode (t, 3, h, w) frames with libx264/libx265 at `crf` in memory and decode them back.

    `preset` defaults to the encoder's fastest useful one (training draws thousands of these);
    `gop`, the distance between key frames, to the encoder's own (x264's and x265's 250)."""
    t, _, h, w = frames.shape
    if codec == "libx265":
        # x265 codes whole 8x8 blocks, and this build corrupts its heap on some frames smaller
        # than one 64x64 CTU (e.g. 48x32): pad up to at least 64 in both directions.
        pad_h, pad_w = max(64, h + -h % 8) - h, max(64, w + -w % 8) - w
    else:
        pad_h, pad_w = h % 2, w % 2  # 4:2:0 needs even sizes
    x = F.pad(frames, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else frames
    images = (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    # Bare codec contexts, no container: nothing here needs timestamps, and this x265 build
    # sometimes stamps a garbage DTS on a packet of a small frame, which a muxer rejects.
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = x.shape[-1], x.shape[-2], "yuv420p"
    encoder.time_base = Fraction(1, 25)
    if gop is not None:
        encoder.gop_size = gop
    # As a Matroska muxer asks (the header out of band): x265 codes slightly differently without
    # it, and the seeded "real" validation inputs must stay what they were.
    encoder.flags |= av.codec.context.Flags.global_header
    options = {"crf": str(crf), "preset": preset or ("ultrafast" if codec == "libx264" else "superfast")}
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    encoder.options = options
    decoder = av.CodecContext.create("hevc" if codec == "libx265" else "h264", "r")
    frames_in = []
    for i, image in enumerate(images):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
            format="yuv420p"
        )
        frame.pts = i
        frames_in.append(frame)
    packets = [p for frame in [*frames_in, None] for p in encoder.encode(frame)]
    decoder.extradata = encoder.extradata
    decoded = [f.to_ndarray(format="rgb24") for p in [*packets, None] for f in decoder.decode(p)]
    out_frames = torch.from_numpy(np.stack(decoded[:t])).permute(0, 3, 1, 2).float() / 255.0
    return out_frames[..., :h, :w]


def _real_round(x: torch.Tensor, size: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    """One round of blur -> resize -> noise -> compression, parameters drawn from `rng`."""
    sigma_x, sigma_y = rng.uniform(0.2, 3.0, size=2)
    x = blur(x, gaussian_kernel(sigma_x, sigma_y, rng.uniform(0, math.pi)))
    mode = ["area", "bilinear", "bicubic"][rng.integers(3)]
    x = F.interpolate(x, size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))
    if rng.random() < 0.5:
        x = x + torch.from_numpy(rng.normal(0, rng.uniform(1, 20) / 255, size=x.shape)).float()
    else:
        peak = 10 ** rng.uniform(1.5, 3)  # photons at white: lower is noisier
        x = torch.from_numpy(rng.poisson(np.clip(x.numpy(), 0, 1) * peak) / peak).float()
    codec = "libx264" if rng.random() < 0.7 else "libx265"
    return compress(x.clamp(0, 1), codec, int(rng.integers(18, 36)))


def realworld_downscale(hr: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """The "real" degradation: two rounds of blur/resize/noise/compression down to h/scale x w/scale."""
    t, _, h, w = hr.shape
    mid = rng.uniform(0.5, 1.0)  # first round lands between the HR and LR sizes
    mid_size = (max(h // scale, round(h * mid / 2)), max(w // scale, round(w * mid / 2)))
    x = _real_round(hr, mid_size, rng)
    return quantize(_real_round(x, (h // scale, w // scale), rng))


def web_downscale(hr: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """The "web" degradation: one round of what web, phone and camera video go through."""
    h, w = hr.shape[-2:]
    x = hr
    if rng.random() < 0.3:  # optics / a soft source
        sigma = rng.uniform(0.3, 1.2)
        x = blur(x, gaussian_kernel(sigma, sigma, 0.0, size=2 * math.ceil(3 * sigma) + 1))
    size = (h // scale, w // scale)
    kind = rng.choice(["bicubic-aa", "area", "bilinear"], p=[0.5, 0.3, 0.2])
    if kind == "bicubic-aa":
        x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    elif kind == "area":
        x = F.interpolate(x, size=size, mode="area")
    else:  # a cheap scaler: no antialiasing, so fine detail aliases
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if rng.random() < 0.5:  # in-camera sharpening
        soft = blur(x, gaussian_kernel(1.0, 1.0, 0.0, size=7))
        x = x + rng.uniform(0.5, 1.2) * (x - soft)
    if rng.random() < 0.7:
        x = x + torch.from_numpy(rng.normal(0, rng.uniform(1, 4) / 255, size=x.shape)).float()
    preset = str(rng.choice(H264_PRESETS))
    return quantize(compress(x.clamp(0, 1), "libx264", int(rng.integers(18, 33)), preset=preset))


def clean_downscale(hr: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """A well-made source: "BI", then H.264 at a random CRF and preset, nothing else."""
    preset = str(rng.choice(H264_PRESETS))
    return quantize(
        compress(bicubic_downscale(hr, scale), "libx264", int(rng.integers(18, 33)), preset=preset)
    )


def chroma_420(x: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) RGB with its chroma halved both ways and brought back (BT.601 YCbCr, area
    down, bilinear up), as a 4:2:0 source stored without further loss looks."""
    r, g, b = x.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    chroma = torch.stack([b - y, r - y], dim=1)
    h, w = x.shape[-2:]
    small = F.avg_pool2d(chroma, 2, ceil_mode=True)
    cb, cr = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).unbind(1)
    r, b = y + cr, y + cb
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return torch.stack([r, g, b], dim=1).clamp(0, 1)


X264_PRESETS = ("ultrafast", "veryfast", "faster", "medium")
X265_PRESETS = ("superfast", "faster")  # x265's slower presets cost more than training can pay
GOPS = (8, 30, 250)


def _blind_compress(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One random H.264 (70 %) or H.265 pass at CRF 18-35, random preset and GOP length."""
    if rng.random() < 0.7:
        codec, preset = "libx264", str(rng.choice(X264_PRESETS))
    else:
        codec, preset = "libx265", str(rng.choice(X265_PRESETS))
    return compress(x, codec, int(rng.integers(18, 36)), preset=preset, gop=int(rng.choice(GOPS)))


def blind_downscale(hr: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """The "blind" degradation (module docstring): (t, 3, h, w) -> (t, 3, h/scale, w/scale)."""
    h, w = hr.shape[-2:]
    if rng.random() < BLIND_CLEAN:
        lr = bicubic_downscale(hr, scale)
        return lr if rng.random() < 0.5 else quantize(_blind_compress(lr, rng))
    x = hr
    kind = rng.random()
    if kind >= 0.2:  # optics: 40 % isotropic, 40 % anisotropic, 20 % none
        sx = rng.uniform(0.2, 2.5)
        sy, theta = (sx, 0.0) if kind < 0.6 else (rng.uniform(0.2, 2.5), rng.uniform(0, math.pi))
        size = min(21, 2 * math.ceil(3 * max(sx, sy)) + 1)
        x = blur(x, gaussian_kernel(sx, sy, theta, size=size))
    size = (h // scale, w // scale)
    kernel = rng.choice(["bicubic-aa", "area", "bilinear", "subsample"])
    if kernel == "bicubic-aa":
        x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    elif kernel == "area":
        x = F.interpolate(x, size=size, mode="area")
    elif kernel == "bilinear":  # no antialiasing: fine detail aliases
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    else:  # point sampling, as BD does: at block centres, the grid every other kernel here uses
        # (a random phase taught the first run to blur every edge it could not place, and the
        # second run's first-pixel phase was a 1.5-pixel shift it had to guess from content)
        x = centre_sample(x, scale)[..., : size[0], : size[1]]
    if rng.random() < 0.4:  # sensor noise: shot (signal-dependent) plus read noise
        # at most ~7 levels at white: real web, phone and film sources measure far less noise than
        # the "real" mix (benchmarks/results/calibrate_real.json), and heavy noise teaches smoothing
        read, shot = rng.uniform(0.5, 4) / 255, rng.uniform(0, 0.0008)
        std = torch.sqrt(shot * x.clamp(0, 1) + read * read)
        shape = x.shape if rng.random() < 0.6 else (x.shape[0], 1, *x.shape[2:])  # colour or luma
        x = x + std * torch.from_numpy(rng.standard_normal(size=shape)).float()
    x = x.clamp(0, 1)
    if rng.random() < 0.8:
        x = _blind_compress(x, rng)
        if rng.random() < 0.2:  # re-encoded once more (an upload, a re-stream)
            x = _blind_compress(x, rng)
    elif rng.random() < 0.5:
        x = chroma_420(x)
    return quantize(x)


def degrade(
    hr: torch.Tensor, scale: int, kind: Degradation, rng: np.random.Generator | None = None
) -> torch.Tensor:
    """(t, 3, h, w) HR frames -> (t, 3, h/scale, w/scale) LR frames."""
    if kind in EVAL_SETTINGS:
        base, codec, crf = EVAL_SETTINGS[kind]
        lr = bicubic_downscale(hr, scale) if base == "BI" else blur_downscale(hr, scale)
        return lr if codec is None else quantize(compress(lr, codec, crf, preset="medium"))
    if kind == "blind":
        return blind_downscale(hr, scale, rng if rng is not None else np.random.default_rng())
    if kind in ("real", "web", "mixed", "broad"):
        rng = rng if rng is not None else np.random.default_rng()
        if kind == "mixed":
            kind = "real" if rng.random() < 0.5 else "web"
        elif kind == "broad":
            kind = str(rng.choice(list(BROAD_ODDS), p=list(BROAD_ODDS.values())))
        make = {"real": realworld_downscale, "web": web_downscale, "clean": clean_downscale}[kind]
        return make(hr, scale, rng)
    raise ValueError(f"degradation must be one of {', '.join(DEGRADATIONS)}, got {kind!r}")
