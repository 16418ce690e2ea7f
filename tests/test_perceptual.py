"""The random-feature perceptual loss (train/perceptual.py): fixed by its seed, zero for identical
inputs, finite gradients to the input and none to the network, layers of comparable weight."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from train.perceptual import RandomFeatures, RandomPerceptualLoss


def _texture(seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    base = F.interpolate(torch.rand(2, 3, 16, 16), size=(64, 64), mode="bicubic")
    return (base + 0.2 * torch.rand(2, 3, 64, 64)).clamp(0, 1)


def test_the_seed_fixes_the_network() -> None:
    a, b, c = RandomFeatures(3), RandomFeatures(3), RandomFeatures(4)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc)
        assert not pa.requires_grad
    x, y = _texture(0), _texture(1)
    assert RandomPerceptualLoss((3,))(x, y) == RandomPerceptualLoss((3,))(x, y)
    assert RandomPerceptualLoss((3,))(x, y) != RandomPerceptualLoss((4,))(x, y)


@pytest.mark.parametrize("gram", [0.0, 10.0])
def test_zero_for_identical_inputs_and_positive_otherwise(gram: float) -> None:
    loss = RandomPerceptualLoss((0, 1), gram_weight=gram)
    x = _texture()
    assert loss(x, x.clone()) == 0
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert loss(blurred, x) > 0.01
    # sequences (b, t, 3, h, w) are scored frame by frame
    assert torch.allclose(loss(blurred[None], x[None]), loss(blurred, x))


def test_gradients_are_finite_reach_the_input_only_and_layers_weigh_alike() -> None:
    loss = RandomPerceptualLoss((0,))
    x = _texture()
    y = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1).requires_grad_(True)
    loss(y, x).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())
    # each layer's term pulls on the input about as hard as the others (He init + normalisation)
    net = loss.nets[0]
    norms = []
    for i in range(len(net.layers)):
        z = y.detach().requires_grad_(True)
        fz, fx = net(z)[i], net(x)[i]
        term = 0.5 * (F.normalize(fz, dim=1) - F.normalize(fx, dim=1)).pow(2).sum(1).mean()
        (grad,) = torch.autograd.grad(term, z)
        norms.append(float(grad.norm()))
    assert max(norms) / min(norms) < 4, norms
    with pytest.raises(ValueError, match="seed"):
        RandomPerceptualLoss(())
