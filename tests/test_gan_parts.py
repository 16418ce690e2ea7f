"""The GAN stage's parts: ping-pong sequences and loss, discriminator inputs and outputs."""

from __future__ import annotations

import torch

from train.discriminator import TemporalDiscriminator, discriminator_inputs
from train.losses import feature_matching, pingpong_loss, pingpong_sequence


def test_pingpong_sequence_and_loss() -> None:
    x = torch.arange(4.0).view(1, 4, 1)
    pp = pingpong_sequence(x)
    assert pp.flatten().tolist() == [0, 1, 2, 3, 2, 1, 0]
    assert float(pingpong_loss(pp, 4)) == 0.0  # a drift-free recurrence agrees both ways
    drifted = pp.clone()
    drifted[:, 4:] += 1.0  # the backward pass drifts by one everywhere
    assert float(pingpong_loss(drifted, 4)) == 1.0


def test_discriminator_inputs_and_outputs() -> None:
    b, t, h, w, s = 2, 5, 8, 12, 4
    hr, lr = torch.rand(b, t, 3, h * s, w * s), torch.rand(b, t, 3, h, w)
    zero = torch.zeros(b, t, 2, h, w)
    temporal = discriminator_inputs(hr, lr, zero, zero, temporal=True)
    assert temporal.shape == (b * (t - 2), 24, h * s, w * s)
    # with zero flow, the warped neighbours are the neighbours themselves
    torch.testing.assert_close(temporal[0, 9:12], hr[0, 0])
    torch.testing.assert_close(temporal[0, 3:6], hr[0, 1])
    spatial = discriminator_inputs(hr, lr, zero, zero, temporal=False)
    assert spatial.shape == (b * (t - 2), 6, h * s, w * s)
    logits, feats = TemporalDiscriminator(channels=8, temporal=True)(temporal)
    assert logits.shape == (b * (t - 2), 1, h * s // 16, w * s // 16) and len(feats) == 5


def test_feature_matching_zero_for_equal_features() -> None:
    feats = [torch.rand(2, 4, 8, 8), torch.rand(2, 8, 4, 4)]
    assert float(feature_matching(feats, feats)) == 0.0
    assert float(feature_matching([f + 1 for f in feats], feats)) == 1.0
