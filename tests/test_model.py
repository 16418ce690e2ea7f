"""The generator's streaming API, its fixed bicubic path, warping, and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from vsr.errors import ModelError
from vsr.models.checkpoint import load_generator, read_metadata, save_generator
from vsr.models.generator import PRESETS, FrameRecurrentGenerator
from vsr.models.layers import FoldedBicubic, backward_warp
from vsr.models.zoo import load_model, resolve_weights, shipped_models


def _random_model(**kwargs) -> FrameRecurrentGenerator:
    torch.manual_seed(0)
    model = FrameRecurrentGenerator(**{"channels": 8, "blocks": 1, "flow_channels": 4, **kwargs})
    with torch.no_grad():  # the tail and flow head start at zero; make the test see every path
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_folded_bicubic_equals_interpolate(scale: int) -> None:
    x = torch.rand(2, 3, 13, 17)
    folded = FoldedBicubic(scale)(x)
    expected = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(F.pixel_shuffle(folded, scale), expected, atol=1e-5, rtol=0)


def test_fresh_model_outputs_bicubic() -> None:
    model = FrameRecurrentGenerator(channels=8, blocks=1, flow_channels=4).eval()
    lr = torch.rand(1, 3, 16, 20)
    hr, _ = model.step(lr, model.init_state(lr))
    torch.testing.assert_close(hr, F.interpolate(lr, scale_factor=4, mode="bicubic"), atol=1e-5, rtol=0)


@pytest.mark.parametrize("hr_warp", [False, True])
def test_step_equals_forward_sequence(hr_warp: bool) -> None:
    model = _random_model(hr_warp=hr_warp)
    lr = torch.rand(2, 5, 3, 16, 24)
    with torch.no_grad():
        seq = model.forward_sequence(lr)
        state = model.init_state(lr[:, 0])
        for t in range(lr.shape[1]):
            hr, state = model.step(lr[:, t], state)
            torch.testing.assert_close(hr, seq.hr[:, t])
    assert seq.hr.shape == (2, 5, 3, 64, 96)
    assert seq.flow.shape == (2, 5, 2, 16, 24)


def test_state_carries_history() -> None:
    """The same frame gives a different output after different histories: the state matters."""
    model = _random_model()
    frame = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a, _ = model.step(frame, model.init_state(torch.zeros_like(frame)))
        b, _ = model.step(frame, model.init_state(torch.ones_like(frame)))
    assert (a - b).abs().max() > 1e-3


def test_folded_warp_matches_hr_warp_for_whole_pixel_motion() -> None:
    """Warping the folded frame by an integer LR flow equals warping the HR frame by scale x it."""
    s = 4
    hr = torch.rand(1, 3, 32, 48)
    flow_lr = torch.zeros(1, 2, 8, 12)
    flow_lr[:, 0], flow_lr[:, 1] = 2.0, -1.0
    folded = backward_warp(F.pixel_unshuffle(hr, s), flow_lr)
    direct = backward_warp(hr, flow_lr.repeat_interleave(s, -1).repeat_interleave(s, -2) * s)
    inner = (slice(None), slice(None), slice(8, 24), slice(4, 36))  # away from the clamped border
    torch.testing.assert_close(F.pixel_shuffle(folded, s)[inner], direct[inner])


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = _random_model(scale=2)
    path = tmp_path / "m.safetensors"
    save_generator(model, path, {"iterations": 7})
    loaded, info = load_generator(path)
    assert loaded.args == model.args
    assert info == {"iterations": 7}
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    lr = torch.rand(1, 2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(
            model.forward_sequence(lr).hr, loaded.forward_sequence(lr).hr, rtol=0, atol=0
        )


def test_foreign_safetensors_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "something-else"})
    with pytest.raises(ModelError, match="not vsr generator weights"):
        read_metadata(path)


def test_pickles_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(ModelError, match="pickled"):
        resolve_weights(str(path), 4)


def test_not_safetensors_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="cannot read weights"):
        load_model(str(path))


def test_shipped_models_load_and_carry_metadata() -> None:
    models = shipped_models()
    assert any(m.name == "fast-x4" for m in models)
    for m in models:
        model, info = load_model(m.name, m.args.scale)
        assert model.scale == m.args.scale
        assert info["iterations"] > 0 and info["val_psnr_y"] > info["val_bicubic_psnr_y"]
        json.dumps(info)
        card = m.path.with_suffix(".md")
        assert card.is_file(), f"{m.name} has no model card"
        assert f"# {m.name}" in card.read_text() and "## Training" in card.read_text()


def test_scale_the_model_lacks() -> None:
    with pytest.raises(ModelError, match="upscales x4, not x2"):
        load_model("fast-x4", 2)


def test_unknown_model() -> None:
    with pytest.raises(ModelError, match="neither a shipped model"):
        load_model("no-such-model", 4)


def test_presets_are_valid() -> None:
    assert PRESETS["quality"].channels == 64 and PRESETS["quality"].blocks == 10
    for args in PRESETS.values():
        FrameRecurrentGenerator.from_args(args)
