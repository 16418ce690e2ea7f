"""The spatio-temporal discriminator of the GAN stage (TecoGAN's D_s,t).

It judges triplets of consecutive HR frames, real or generated. The two neighbours are also warped
onto the centre frame with the generator's flow, so D can compare motion-compensated content and
punish temporal inconsistency, and every input is conditioned on the bicubic upsample of its LR
triplet, so D judges detail rather than colour or layout. With ``temporal=False`` (the ablation)
D sees single frames with their LR condition only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import backward_warp, upsample_flow


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class TemporalDiscriminator(nn.Module):
    def __init__(self, *, channels: int = 32, temporal: bool = True) -> None:
        super().__init__()
        self.temporal = temporal
        frames = 3 if temporal else 1
        # frames + warped neighbours (temporal) + bicubic LR condition
        cin = 3 * frames + (6 if temporal else 0) + 3 * frames
        c = channels
        self.blocks = nn.ModuleList(
            [
                _block(cin, c, 1),
                _block(c, c, 2),
                _block(c, 2 * c, 2),
                _block(2 * c, 4 * c, 2),
                _block(4 * c, 4 * c, 2),
            ]
        )
        self.head = nn.Conv2d(4 * c, 1, 3, 1, 1)  # patch logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(n, cin, H, W) -> (patch logits (n, 1, H/16, W/16), features of every block)."""
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.head(x), features


def discriminator_inputs(
    hr: torch.Tensor, lr: torch.Tensor, flow_prev: torch.Tensor, flow_next: torch.Tensor, temporal: bool
) -> torch.Tensor:
    """Stack D's inputs for every centre frame 1..t-2 of a sequence.

    hr (b, t, 3, H, W) real or generated frames; lr (b, t, 3, h, w); flow_prev / flow_next
    (b, t, 2, h, w): LR flow from frame i to i-1 / to i+1 (only 1..t-2 are used).
    Returns (b * (t - 2), channels, H, W).
    """
    b, t, _, big_h, big_w = hr.shape
    scale = big_h // lr.shape[-2]
    centre = slice(1, t - 1)
    cond = F.interpolate(lr.flatten(0, 1), scale_factor=scale, mode="bicubic", align_corners=False)
    cond = cond.view(b, t, 3, big_h, big_w)
    if not temporal:
        return torch.cat([hr[:, centre], cond[:, centre]], dim=2).flatten(0, 1)
    n = b * (t - 2)
    prev_flow = upsample_flow(flow_prev[:, centre].flatten(0, 1), big_h, big_w)
    next_flow = upsample_flow(flow_next[:, centre].flatten(0, 1), big_h, big_w)
    warped_prev = backward_warp(hr[:, : t - 2].flatten(0, 1), prev_flow)
    warped_next = backward_warp(hr[:, 2:].flatten(0, 1), next_flow)
    triplet = torch.cat([hr[:, : t - 2], hr[:, centre], hr[:, 2:]], dim=2).flatten(0, 1)  # (n, 9, H, W)
    cond_triplet = torch.cat([cond[:, : t - 2], cond[:, centre], cond[:, 2:]], dim=2).flatten(0, 1)
    return torch.cat([triplet, warped_prev, warped_next, cond_triplet], dim=1).view(n, -1, big_h, big_w)
