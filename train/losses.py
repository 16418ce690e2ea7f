"""Loss terms of both training stages."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vsr.models.layers import backward_warp


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
