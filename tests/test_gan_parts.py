"""The GAN stage's parts: ping-pong sequences and loss, discriminator inputs and outputs."""

from __future__ import annotations

import pytest
import torch

from train.discriminator import TemporalDiscriminator, discriminator_inputs
from train.losses import feature_matching, pingpong_loss, pingpong_sequence, temporal_loss


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


def test_detail_inputs_are_frames_minus_their_bicubic_condition() -> None:
    b, t, h, w, s = 1, 4, 8, 8, 4
    lr = torch.rand(b, t, 3, h, w)
    cond = torch.nn.functional.interpolate(lr.flatten(0, 1), scale_factor=s, mode="bicubic").view(
        b, t, 3, h * s, w * s
    )
    zero = torch.zeros(b, t, 2, h, w)
    # a frame that is exactly its bicubic condition has no detail: zeros in every frame channel
    plain = discriminator_inputs(cond, lr, zero, zero, temporal=True, detail_gain=4.0)
    assert float(plain[:, :15].abs().max()) < 1e-6
    torch.testing.assert_close(
        plain[:, 15:], discriminator_inputs(cond, lr, zero, zero, temporal=True)[:, 15:]
    )
    detail = 0.01 * torch.randn(b, t, 3, h * s, w * s)
    textured = discriminator_inputs(cond + detail, lr, zero, zero, temporal=True, detail_gain=4.0)
    torch.testing.assert_close(textured[0, 3:6], 4.0 * detail[0, 1])  # centre frame of the first triplet
    torch.testing.assert_close(textured[0, 9:12], 4.0 * detail[0, 0])  # its (zero-flow) warped predecessor


def test_triplet_flows_without_a_flow_net_are_zero() -> None:
    from train.discriminator import triplet_flows

    lr = torch.rand(2, 5, 3, 8, 8)
    prev, nxt = triplet_flows(None, lr, None)
    assert prev.shape == nxt.shape == (2, 5, 2, 8, 8) and not prev.any() and not nxt.any()


def test_feature_matching_zero_for_equal_features() -> None:
    feats = [torch.rand(2, 4, 8, 8), torch.rand(2, 8, 4, 4)]
    assert float(feature_matching(feats, feats)) == 0.0
    assert float(feature_matching([f + 1 for f in feats], feats)) == 1.0


def test_unsharp_mask_sharpens_edges_and_leaves_flat_and_faint_detail() -> None:
    from train.losses import unsharp_mask

    flat = torch.full((1, 3, 32, 32), 0.5)
    assert torch.equal(unsharp_mask(flat), flat)
    faint = flat + 2 / 255 * torch.randn_like(flat)  # detail below the 10-level threshold
    torch.testing.assert_close(unsharp_mask(faint), faint)
    step = torch.full((1, 3, 32, 32), 0.3)
    step[..., 16:] = 0.7
    sharp = unsharp_mask(step)
    row = sharp[0, 0, 16]
    assert row[15] < 0.3 - 0.02 and row[16] > 0.7 + 0.02  # overshoot on both sides of the edge
    assert torch.equal(sharp[..., :4], step[..., :4])  # far from the edge: untouched
    assert sharp.min() >= 0 and sharp.max() <= 1
    video = step[None].repeat(1, 2, 1, 1, 1)  # (b, t, 3, h, w) keeps its shape
    assert unsharp_mask(video).shape == video.shape


def test_frequency_loss() -> None:
    from train.losses import frequency_loss

    x = torch.rand(2, 3, 16, 16)
    assert float(frequency_loss(x, x)) == 0.0
    # Parseval with the orthonormal FFT: a constant offset d moves only the DC bin, by d * sqrt(h w)
    offset = frequency_loss(x + 0.1, x)
    bins = 16 * (16 // 2 + 1) * 2  # rfft2 bins x (real, imaginary)
    assert float(offset) == pytest.approx(0.1 * 16 / bins, rel=1e-4)


def test_artifact_map_marks_noisy_errors_the_ema_does_not_make() -> None:
    from train.losses import artifact_loss, artifact_map

    torch.manual_seed(0)
    hr = torch.rand(1, 3, 32, 32)
    noisy = hr.clone()
    noisy[..., :16] += 0.2 * torch.randn_like(noisy[..., :16])  # artifacts in the left half
    clean_ema = hr + 0.01  # the EMA: a small smooth error everywhere
    weight = artifact_map(hr, noisy, clean_ema)
    assert weight.shape == (1, 1, 32, 32)
    assert float(weight[..., 4:28, 2:12].min()) > 0  # noisy texture, worse than the EMA
    assert float(weight[..., 20:].abs().max()) == 0  # the current output is better than the EMA there
    # the map carries no gradient; the loss does, through the output
    out = noisy.clone().requires_grad_(True)
    artifact_loss(hr, out, clean_ema).backward()
    assert out.grad is not None and float(out.grad[..., :16].abs().sum()) > 0
    assert float(out.grad[..., 20:].abs().sum()) == 0


def test_temporal_loss_compares_changes_not_frames() -> None:
    """Zero when the output changes as the truth does (even with a constant error), positive when
    the error flickers; with a flow, a scene that moves by the flow and an output that moves with
    it cost nothing, while one that stays put does."""
    torch.manual_seed(0)
    hr = torch.rand(1, 4, 3, 16, 16)
    offset = hr + 0.1  # a steady error: no change from frame to frame
    assert temporal_loss(offset, hr) < 2e-3  # Charbonnier's floor (eps 1e-3)
    flicker = hr + 0.1 * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(1, 4, 1, 1, 1)
    assert temporal_loss(flicker, hr) > 0.15
    # a scene sliding right by one LR pixel per frame (4 HR pixels at x4)
    base = torch.rand(1, 3, 16, 40)
    moving = torch.stack([base[..., 12 - 4 * i : 28 - 4 * i] for i in range(3)], dim=1)
    flow = torch.zeros(1, 3, 2, 4, 4)
    flow[:, :, 0] = -1.0  # frame t at x came from frame t-1 at x - 1 LR pixel
    still = moving[:, :1].expand(-1, 3, -1, -1, -1)
    assert temporal_loss(moving, moving, flow) < 2e-3
    assert temporal_loss(still, moving, flow) > 0.05
