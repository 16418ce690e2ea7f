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


def triplet_flows(
    flow_net: nn.Module | None, lr: torch.Tensor, flow: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """LR flows from every frame to its previous and next one, (b, t, 2, h, w) each, for D's warps.

    `flow` is the generator's own backward flow (frame i to i-1); the forward one comes from its
    flow net. A generator without a flow net gives zero flows: D then sees triplets unaligned.
    """
    b, t, _, h, w = lr.shape
    if flow_net is None or flow is None:
        zeros = lr.new_zeros(b, t, 2, h, w)
        return zeros, zeros
    forward_flow = flow_net(lr[:, :-1].flatten(0, 1), lr[:, 1:].flatten(0, 1))
    flow_next = upsample_flow(forward_flow, h, w).view(b, t - 1, 2, h, w)
    return flow, torch.cat([flow_next, torch.zeros_like(flow_next[:, :1])], dim=1)


def discriminator_inputs(
    hr: torch.Tensor,
    lr: torch.Tensor,
    flow_prev: torch.Tensor,
    flow_next: torch.Tensor,
    temporal: bool,
    detail_gain: float = 0.0,
) -> torch.Tensor:
    """Stack D's inputs for every centre frame 1..t-2 of a sequence.

    hr (b, t, 3, H, W) real or generated frames; lr (b, t, 3, h, w); flow_prev / flow_next
    (b, t, 2, h, w): LR flow from frame i to i-1 / to i+1 (only 1..t-2 are used).
    `detail_gain` > 0 gives D each frame (and warped neighbour) minus the bicubic upsample of its
    LR frame, times the gain, in place of the frame itself: the same information, but the detail
    that tells a generated frame from a real one is no longer a small part of the input's range.
    Returns (b * (t - 2), channels, H, W).
    """
    b, t, _, big_h, big_w = hr.shape
    scale = big_h // lr.shape[-2]
    centre = slice(1, t - 1)
    cond = F.interpolate(lr.flatten(0, 1), scale_factor=scale, mode="bicubic", align_corners=False)
    cond = cond.view(b, t, 3, big_h, big_w)
    if detail_gain > 0:
        hr = (hr - cond) * detail_gain
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
