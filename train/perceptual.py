"""A perceptual loss with no pretrained weights: features of a fixed, seeded, randomly initialised CNN.

We cannot download VGG. A deep CNN with random weights used as a feature loss does about as well
as a pretrained VGG for super-resolution when its initialisation keeps the activations' scale
steady from layer to layer (Liu et al., "Generic Perceptual Loss", CVPR 2021), and random
networks already capture texture statistics (He, Wang, Hopcroft, NIPS 2016; Ustyuzhaninov et al.
2016). So: a few 3x3 convolutions at strides 1, 2, 2, 2 (the later layers see 15-30 HR pixels,
cheap on a CPU), He-initialised from a seed and never trained.

The per-layer term is TecoGAN's: features normalised over the channels at every position, then
compared (half the squared distance of unit vectors = 1 - cosine similarity), which does not care
about each layer's overall scale, so every layer counts about equally; zero positions stay zero,
so identical inputs cost exactly 0. An optional Gram term compares the layers' channel
correlations (texture statistics, position-free). Several seeds average several such networks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (32, 64, 96, 128)  # output channels of the four layers
STRIDES = (1, 2, 2, 2)


class RandomFeatures(nn.Module):
    """The fixed feature network of one seed: (n, 3, h, w) in [0, 1] -> one map per layer."""

    def __init__(
        self, seed: int, widths: tuple[int, ...] = WIDTHS, strides: tuple[int, ...] = STRIDES
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        layers, c_in = [], 3
        for c_out in widths:
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            # He (Kaiming) normal, fan-in, for ReLU: each layer keeps the variance of its input, so
            # no layer's features (and gradients) vanish or explode with depth.
            std = (2.0 / (c_in * 9)) ** 0.5
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * std)
            layers.append(conv)
            c_in = c_out
        self.layers = nn.ModuleList(layers)
        self.strides = strides
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - 0.5) / 0.25  # about zero-mean, unit-variance pixels
        features = []
        for conv, stride in zip(self.layers, self.strides, strict=True):
            x = F.relu(F.conv2d(x, conv.weight, stride=stride, padding=1))
            features.append(x)
        return features


def _gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class RandomPerceptualLoss(nn.Module):
    """1 - cosine of channel-normalised random features (and a Gram term), averaged over layers
    and seeds. Inputs (..., 3, h, w) in [0, 1]; the networks are fixed (no gradient to them)."""

    def __init__(self, seeds: tuple[int, ...] = (0,), gram_weight: float = 0.0) -> None:
        super().__init__()
        if not seeds:
            raise ValueError("the random perceptual loss needs at least one seed")
        self.nets = nn.ModuleList(RandomFeatures(seed) for seed in seeds)
        self.gram_weight = gram_weight

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *x.shape[-3:]).float()
        y = y.reshape(-1, *y.shape[-3:]).float()
        total = x.new_zeros(())
        count = 0
        for net in self.nets:
            with torch.no_grad():
                target = net(y)
            for fx, fy in zip(net(x), target, strict=True):
                nx, ny = F.normalize(fx, dim=1), F.normalize(fy, dim=1)
                term = 0.5 * (nx - ny).pow(2).sum(1).mean()
                if self.gram_weight:
                    term = term + self.gram_weight * (_gram(fx) - _gram(fy)).abs().sum((1, 2)).mean()
                total = total + term
                count += 1
        return total / count
