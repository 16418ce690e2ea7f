"""Loss terms of both training stages."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vsr.models.layers import backward_warp, upsample_flow


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def warping_loss(lr: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Frame t-1 warped by the predicted flow of frame t should look like frame t.

    lr (b, t, 3, h, w); flow (b, t, 2, h, w), flow[:, i] from frame i to i-1.
    """
    c, h, w = lr.shape[-3:]
    prev = lr[:, :-1].reshape(-1, c, h, w)
    warped = backward_warp(prev, flow[:, 1:].reshape(-1, 2, h, w))
    return charbonnier(warped, lr[:, 1:].reshape(-1, c, h, w))


def temporal_loss(out: torch.Tensor, hr: torch.Tensor, flow: torch.Tensor | None = None) -> torch.Tensor:
    """The output's change from frame to frame should be the ground truth's (Charbonnier).

    out, hr (b, t, 3, H, W); flow (b, t, 2, h, w) at LR from frame i to i-1, or None. With a flow,
    both previous frames are first warped by the same flow (upsampled to HR, no gradient), so the
    term compares what changed after motion: detail that crawls or flickers against a scene that
    does not. Without one the frames are compared in place (the hidden recurrence has no flow).
    """
    b, t, c, H, W = out.shape
    prev_out, prev_hr = out[:, :-1].reshape(-1, c, H, W), hr[:, :-1].reshape(-1, c, H, W)
    if flow is not None:
        f = upsample_flow(flow[:, 1:].detach().reshape(-1, 2, *flow.shape[-2:]), H, W)
        prev_out, prev_hr = backward_warp(prev_out, f), backward_warp(prev_hr, f)
    d_out = out[:, 1:].reshape(-1, c, H, W) - prev_out
    d_hr = hr[:, 1:].reshape(-1, c, H, W) - prev_hr
    return charbonnier(d_out, d_hr)


def pingpong_sequence(x: torch.Tensor) -> torch.Tensor:
    """(b, t, ...) -> (b, 2t - 1, ...): frames 0..t-1 then back t-2..0."""
    return torch.cat([x, x.flip(1)[:, 1:]], dim=1)


def pingpong_loss(hr: torch.Tensor, frames: int) -> torch.Tensor:
    """Outputs of a ping-pong sequence (b, 2t - 1, ...) should agree at the same frame both ways.

    Frame i is produced at step i going forward and at step 2t - 2 - i coming back; the recurrent
    state must not drift between the two.
    """
    forward = hr[:, : frames - 1]
    backward = hr[:, frames:].flip(1)
    return (forward - backward).abs().mean()


def adversarial_g(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def adversarial_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def feature_matching(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """L1 between the discriminator's features of generated and real inputs (in place of VGG)."""
    return sum((f - r.detach()).abs().mean() for f, r in zip(fake, real, strict=True)) / len(fake)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (n, c, h, w), kernel radius 3 sigma, reflected borders."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def unsharp_mask(
    hr: torch.Tensor, amount: float = 0.5, sigma: float = 2.0, threshold: float = 10 / 255
) -> torch.Tensor:
    """The sharpened target of Real-ESRGAN-style GAN training: hr + amount (hr - blur(hr)) where
    the detail is above `threshold` (the mask itself blurred, so it fades in), clipped to [0, 1].

    (..., 3, h, w) in [0, 1]; flat regions and noise below the threshold are left as they are.
    """
    shape = hr.shape
    x = hr.reshape(-1, *shape[-3:])
    detail = x - gaussian_blur(x, sigma)
    mask = (detail.abs().amax(1, keepdim=True) > threshold).to(x.dtype)
    mask = gaussian_blur(mask, sigma)
    sharp = (x + amount * detail).clamp(0, 1)
    return (mask * sharp + (1 - mask) * x).reshape(shape)


def frequency_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between the 2-D spectra (orthonormal FFT, real and imaginary parts) of two images: a
    loss that weighs fine texture as much as the broad picture."""
    fx, fy = torch.fft.rfft2(x.float(), norm="ortho"), torch.fft.rfft2(y.float(), norm="ortho")
    return (torch.view_as_real(fx) - torch.view_as_real(fy)).abs().mean()


def artifact_map(hr: torch.Tensor, out: torch.Tensor, out_ema: torch.Tensor, window: int = 7) -> torch.Tensor:
    """LDL's map of where the generator paints artifacts (Liang et al., CVPR 2022), (n, 1, h, w).

    The residual |hr - out| summed over colour: its local variance in a `window` (high where the
    error is noisy texture rather than a smooth offset), times its variance over the whole image
    to the power 1/5; zero where the EMA generator, steadier, is no better than the current one
    (there the detail is more likely real than an artifact). No gradient flows through the map.
    """
    n_shape = hr.shape[:-3]
    hr, out, out_ema = (t.reshape(-1, *t.shape[-3:]).float() for t in (hr, out.detach(), out_ema))
    residual = (hr - out).abs().sum(1, keepdim=True)
    residual_ema = (hr - out_ema).abs().sum(1, keepdim=True)
    pad = window // 2
    padded = F.pad(residual, (pad, pad, pad, pad), mode="reflect")
    mean = F.avg_pool2d(padded, window, stride=1)
    local = (F.avg_pool2d(padded * padded, window, stride=1) - mean * mean).clamp_min(0)
    global_ = residual.var(dim=(1, 2, 3), keepdim=True) ** 0.2
    weight = local * global_
    weight = torch.where(residual < residual_ema, torch.zeros_like(weight), weight)
    return weight.reshape(*n_shape, *weight.shape[-3:])


def artifact_loss(hr: torch.Tensor, out: torch.Tensor, out_ema: torch.Tensor) -> torch.Tensor:
    """L1 of the output against ground truth, weighted by LDL's artifact map."""
    weight = artifact_map(hr, out, out_ema)
    return (weight * (out - hr)).abs().mean()
