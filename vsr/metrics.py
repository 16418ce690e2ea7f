"""Full-reference video quality metrics as the VSR literature computes them.

Frames are float RGB in [0, 1], shaped (3, h, w) or (t, 3, h, w). PSNR-Y and SSIM-Y use BT.601
luma on the 16-235 range, rounded to integers as an 8-bit Y plane would be, and crop ``border``
pixels on every side. The work is done on NumPy luma planes with OpenCV; `SequenceScorer` takes
one frame pair at a time, so whole videos are scored in constant memory.

Two detail measures sit beside them: the detail ratio (output / reference Laplacian energy of the
luma; 1 is the reference's amount of fine detail, below 1 is smoother, above 1 is sharper or
noisier), and ERQA (Kirillova et al. 2021, the MSU video-SR benchmark's edge-restoration quality:
F1 of Canny edges, 1 is every edge restored in place).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

_BT601 = (65.481, 128.553, 24.966)
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, h, w) RGB in [0, 1] -> (..., h, w) BT.601 Y in [16, 235]."""
    r, g, b = rgb.unbind(-3)
    return 16.0 + _BT601[0] * r + _BT601[1] * g + _BT601[2] * b


def luma_planes(frames: torch.Tensor) -> np.ndarray:
    """(t, 3, h, w) or (3, h, w) RGB -> (t, h, w) float64 Y planes, rounded to integer levels."""
    frames = frames if frames.ndim == 4 else frames[None]
    return np.round(luma(frames.clamp(0, 1).double()).numpy())


def crop_border(y: np.ndarray | torch.Tensor, border: int) -> np.ndarray | torch.Tensor:
    """`border` pixels off every side of the last two dimensions."""
    return y[..., border : y.shape[-2] - border, border : y.shape[-1] - border] if border else y


def psnr_plane(y_out: np.ndarray, y_ref: np.ndarray) -> float:
    mse = float(np.mean((y_out - y_ref) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, valid windows only.

    NaN for planes smaller than the window."""
    if min(x.shape) < 11:
        return math.nan

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _C1) * (2 * cov + _C2)) / (
        (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    )
    return float(ssim_map.mean())


def laplacian_energy(y: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of a luma plane: how much fine detail it holds."""
    return float(np.mean(cv2.Laplacian(y, cv2.CV_64F, ksize=1) ** 2))


def rgb_u8(frame: torch.Tensor) -> np.ndarray:
    """(3, h, w) RGB in [0, 1] -> (h, w, 3) uint8, the 8-bit picture ERQA compares."""
    return np.ascontiguousarray((frame.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())


def _overlap(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts of `a` and `b` that coincide when `a` is moved by (-dy, -dx): a[y + dy] meets b[y]."""
    h, w = a.shape[:2]
    rows_a, rows_b = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    cols_a, cols_b = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    return a[rows_a, cols_a], b[rows_b, cols_b]


def erqa(output: np.ndarray, reference: np.ndarray, radius: int = 3) -> float:
    """ERQA 1.1 of two same-size uint8 pictures (h, w, 3), in [0, 1].

    As the metric's authors define it: the whole output is first aligned to the reference by the
    integer shift of at most `radius` pixels with the least mean squared error (the first such
    shift, rows then columns from -radius); edges are Canny's (thresholds 100 and 200, strongest
    gradient over the three channels); an output edge pixel is a true positive when an unmatched
    reference edge lies within one pixel of it (the same place tried first; the maps wrap at the
    border, as the reference code's `np.roll` does), and each reference edge pixel matches at most
    one output pixel ("penalize wider edges"). The score is F1 of precision and recall; 0 when
    no edge is restored (or there is none).
    """
    if output.shape != reference.shape or output.dtype != np.uint8 or output.ndim != 3:
        raise ValueError(f"erqa needs two uint8 (h, w, 3) pictures, got {output.shape} and {reference.shape}")
    radius = min(radius, output.shape[0] - 1, output.shape[1] - 1)  # tiny pictures: smaller search
    best = math.inf
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            a, b = _overlap(output, reference, dy, dx)
            mse = cv2.norm(a, b, cv2.NORM_L2SQR) / a.size
            if mse < best:
                best, aligned = mse, (a, b)
    edges, ref_edges = (cv2.Canny(np.ascontiguousarray(x), 100, 200) > 0 for x in aligned)
    return edge_f1(edges, ref_edges)


def edge_f1(edges: np.ndarray, ref_edges: np.ndarray) -> float:
    """ERQA's matching of two boolean edge maps: F1, each reference edge pixel matching at most one
    output edge pixel within one pixel (the same place first; the maps wrap at the border)."""
    matched = np.zeros_like(edges)  # output edges matched so far (true positives)
    unmatched_ref = ref_edges.copy()
    order = sorted(range(-1, 2), key=abs)
    for dy in order:
        for dx in order:
            new = edges & np.roll(unmatched_ref, (dy, dx), axis=(0, 1)) & ~matched
            matched |= new
            unmatched_ref &= ~np.roll(new, (-dy, -dx), axis=(0, 1))
    tp = int(matched.sum())
    fp, fn = int(edges.sum()) - tp, int(unmatched_ref.sum())
    if tp == 0:  # no edges, or none restored (the reference code gives 0 or NaN)
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall)


def psnr_y(output: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    """PSNR of the luma of one frame (3, h, w) against another, peak 255; inf when equal."""
    return psnr_plane(
        crop_border(luma_planes(output)[0], border), crop_border(luma_planes(reference)[0], border)
    )


def ssim_y(output: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    return ssim_plane(
        crop_border(luma_planes(output)[0], border), crop_border(luma_planes(reference)[0], border)
    )


def gray_u8(y: np.ndarray) -> np.ndarray:
    """Y plane on 16-235 -> uint8 on 0-255, the input OpenCV's flow expects."""
    return np.clip(np.round((y - 16.0) * (255.0 / 219.0)), 0, 255).astype(np.uint8)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


@dataclass
class SequenceScorer:
    """Scores an output video against its reference one frame pair at a time, in constant memory.

    PSNR-Y, SSIM-Y, the Laplacian energies behind the detail ratio and ERQA per frame (border
    cropped), tOF and flicker per consecutive pair. `ssim_stride` / `tof_stride` / `erqa_stride`
    compute those three on every Nth frame / pair only (they are slow); `erqa_stride=0` skips ERQA.
    """

    border: int = 0
    ssim_stride: int = 1
    tof_stride: int = 1
    erqa_stride: int = 1
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    tof: list[float] = field(default_factory=list)
    flicker: list[float] = field(default_factory=list)
    erqa: list[float] = field(default_factory=list)
    energy: list[tuple[float, float]] = field(default_factory=list)  # (output, reference) per frame
    _previous: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, output: torch.Tensor, reference: torch.Tensor) -> None:
        """One frame of each, (3, h, w) RGB in [0, 1], same size."""
        if output.shape != reference.shape:
            raise ValueError(
                f"output frame {tuple(output.shape)} and reference {tuple(reference.shape)} differ"
            )
        y_out, y_ref = luma_planes(output)[0], luma_planes(reference)[0]
        index = len(self.psnr)
        self.psnr.append(psnr_plane(crop_border(y_out, self.border), crop_border(y_ref, self.border)))
        if index % self.ssim_stride == 0:
            self.ssim.append(ssim_plane(crop_border(y_out, self.border), crop_border(y_ref, self.border)))
        self.energy.append(
            (
                laplacian_energy(crop_border(y_out, self.border)),
                laplacian_energy(crop_border(y_ref, self.border)),
            )
        )
        if self.erqa_stride and index % self.erqa_stride == 0:
            self.erqa.append(
                erqa(rgb_u8(crop_border(output, self.border)), rgb_u8(crop_border(reference, self.border)))
            )
        if self._previous is not None:
            p_out, p_ref = self._previous
            self.flicker.append(float(np.abs((y_out - p_out) - (y_ref - p_ref)).mean()))
            if (index - 1) % self.tof_stride == 0:
                flow_out = farneback_flow(gray_u8(p_out), gray_u8(y_out))
                flow_ref = farneback_flow(gray_u8(p_ref), gray_u8(y_ref))
                self.tof.append(float(np.abs(flow_out - flow_ref).sum(-1).mean()))
        self._previous = (y_out, y_ref)

    def add_sequence(self, output: torch.Tensor, reference: torch.Tensor) -> SequenceScorer:
        if output.shape[0] != reference.shape[0]:
            raise ValueError(f"{output.shape[0]} output frames for {reference.shape[0]} reference frames")
        for o, r in zip(output, reference, strict=True):
            self.add(o, r)
        return self

    def summary(self) -> dict[str, float]:
        """Means over frames (PSNR-Y, SSIM-Y, ERQA) and over pairs (tOF, flicker; 0 for one frame);
        the detail ratio is the output's total Laplacian energy over the reference's (NaN when the
        reference is flat)."""
        finite = [p for p in self.psnr if math.isfinite(p)]
        out_energy, ref_energy = (
            (sum(e) for e in zip(*self.energy, strict=True)) if self.energy else (0.0, 0.0)
        )
        return {
            "psnr_y": float(np.mean(self.psnr)) if len(finite) == len(self.psnr) else math.inf,
            "ssim_y": float(np.mean(self.ssim)) if self.ssim else math.nan,
            "tof": float(np.mean(self.tof)) if self.tof else 0.0,
            "flicker": float(np.mean(self.flicker)) if self.flicker else 0.0,
            "detail": out_energy / ref_energy if ref_energy > 0 else math.nan,
            "erqa": float(np.mean(self.erqa)) if self.erqa else math.nan,
        }


def tof(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Temporal optical-flow error: mean L1 distance (pixels) between the Farneback flows of
    consecutive output frames and of consecutive reference frames; 0 when equal. (t, 3, h, w)."""
    return SequenceScorer().add_sequence(output, reference).summary()["tof"]


def flicker(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean |(out_t - out_t-1) - (ref_t - ref_t-1)| on BT.601 luma (16-235 scale). (t, 3, h, w)."""
    return SequenceScorer().add_sequence(output, reference).summary()["flicker"]
