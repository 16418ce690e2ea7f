"""The generator's streaming API, its fixed bicubic path, warping, and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from tests.ops import LIFT_FRESH, OpRecorder
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


HIDDEN = {"recurrence": "hidden", "state_channels": 6}
RESIDUAL = {**HIDDEN, "feedback": "residual"}
KINDS = [{"hr_warp": False}, {"hr_warp": True}, HIDDEN, RESIDUAL]
KIND_IDS = ["folded-warp", "hr-warp", "hidden", "hidden-residual"]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_fresh_model_outputs_bicubic(kind: dict) -> None:
    model = FrameRecurrentGenerator(channels=8, blocks=1, flow_channels=4, **kind).eval()
    lr = torch.rand(1, 3, 16, 20)
    hr, (_, carried) = model.step(lr, model.init_state(lr))
    torch.testing.assert_close(hr, F.interpolate(lr, scale_factor=4, mode="bicubic"), atol=1e-5, rtol=0)
    assert carried.shape == (1, model.carried_channels, 16, 20)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_step_equals_forward_sequence(kind: dict) -> None:
    model = _random_model(**kind)
    lr = torch.rand(2, 5, 3, 16, 24)
    with torch.no_grad():
        seq = model.forward_sequence(lr)
        state = model.init_state(lr[:, 0])
        for t in range(lr.shape[1]):
            hr, state = model.step(lr[:, t], state)
            torch.testing.assert_close(hr, seq.hr[:, t])
    assert seq.hr.shape == (2, 5, 3, 64, 96)
    if kind.get("recurrence") == "hidden":
        assert seq.flow is None and model.flow is None
        assert state[1].shape == (2, 3 * 16 + 6, 16, 24)
    else:
        assert seq.flow.shape == (2, 5, 2, 16, 24)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_state_carries_history(kind: dict) -> None:
    """The same frame gives a different output after different histories: the state matters."""
    model = _random_model(**kind)
    frame = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a, _ = model.step(frame, model.init_state(torch.zeros_like(frame)))
        b, _ = model.step(frame, model.init_state(torch.ones_like(frame)))
    assert (a - b).abs().max() > 1e-3


def test_hidden_features_are_carried() -> None:
    """With the same previous frames, different hidden features give different outputs."""
    model = _random_model(**HIDDEN)
    frame = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        prev_lr, carried = model.init_state(frame)
        other = carried.clone()
        other[:, -6:] = 0.5
        a = model(frame, prev_lr, carried)
        b = model(frame, prev_lr, other)
    assert (a[:, :48] - b[:, :48]).abs().max() > 1e-4
    assert a[:, 48:].abs().max() <= 1.0  # tanh-bounded, so the state cannot grow without bound


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_inference_mode_step_equals_the_functional_one(kind: dict) -> None:
    """The in-place step taken under inference mode (the Runner's) computes what the functional
    one (training, exporters) does, through a few frames of the recurrence."""
    model = _random_model(**kind)
    lr = torch.rand(2, 5, 3, 16, 16)
    with torch.no_grad():
        expected = model.forward_sequence(lr)
    with torch.inference_mode():
        got = model.forward_sequence(lr)
    torch.testing.assert_close(got.hr, expected.hr, rtol=0, atol=0)
    torch.testing.assert_close(got.state[1], expected.state[1], rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_reset_every_frame_is_the_single_frame_model(kind: dict) -> None:
    model = _random_model(**kind)
    lr = torch.rand(1, 4, 3, 16, 16)
    with torch.no_grad():
        seq = model.forward_sequence(lr, reset_every_frame=True)
        for t in range(4):
            hr, _ = model.step(lr[:, t], model.init_state(lr[:, t]))
            torch.testing.assert_close(hr, seq.hr[:, t])


def test_hidden_args_validated() -> None:
    with pytest.raises(ValueError, match="recurrence"):
        FrameRecurrentGenerator(recurrence="lstm")
    with pytest.raises(ValueError, match="state_channels"):
        FrameRecurrentGenerator(recurrence="flow", state_channels=4)
    with pytest.raises(ValueError, match="feedback"):
        FrameRecurrentGenerator(feedback="residual")  # the flow recurrence warps its output


def test_residual_feedback_sees_detail_not_picture() -> None:
    """Residual feedback shows the SR net the previous output minus the previous frame's bicubic
    upsample (the detail the model added), not the picture: the same weights with output feedback
    given that difference compute the same step."""
    residual = _random_model(**RESIDUAL)
    output = FrameRecurrentGenerator(channels=8, blocks=1, flow_channels=4, **HIDDEN).eval()
    output.load_state_dict(residual.state_dict())
    prev, frame = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        _, carried = residual.init_state(prev)
        carried[:, :48] += 0.05 * torch.randn_like(carried[:, :48])  # some detail on the picture
        carried[:, 48:] = torch.rand_like(carried[:, 48:])
        detail = carried.clone()
        detail[:, :48] -= residual.bicubic(prev)
        torch.testing.assert_close(residual(frame, prev, carried), output(frame, prev, detail))
        assert (residual(frame, prev, carried) - output(frame, prev, carried)).abs().max() > 1e-4


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


@pytest.mark.parametrize("kind", [{}, HIDDEN], ids=["flow", "hidden"])
def test_checkpoint_round_trip(tmp_path: Path, kind: dict) -> None:
    model = _random_model(scale=2, **kind)
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


def test_saved_weights_follow_the_umask(tmp_path: Path) -> None:
    """safetensors alone writes 0600; exported weights get the mode any new file would."""
    import os
    import stat

    previous = os.umask(0o022)
    try:
        save_generator(_random_model(scale=2), tmp_path / "a.safetensors")
        os.umask(0o077)
        save_generator(_random_model(scale=2), tmp_path / "b.safetensors")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.safetensors").stat().st_mode) == 0o600


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
    assert PRESETS["quality"].channels == 32 and PRESETS["quality"].recurrence == "hidden"
    for args in PRESETS.values():
        FrameRecurrentGenerator.from_args(args)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_step_builds_no_tensor_from_python_data(kind: dict) -> None:
    """torch.tensor(...) inside a step is a blocking host-to-device copy per frame on CUDA (it
    shows as aten.lift_fresh); the step must take its constants as Python scalars instead."""
    model = _random_model(**kind)
    lr = torch.rand(1, 3, 16, 16)
    state = model.init_state(lr)
    with OpRecorder() as check:  # the recorder itself must see torch.tensor, or the test proves nothing
        torch.tensor([1.0, 2.0])
    assert LIFT_FRESH in check.ops
    with torch.no_grad(), OpRecorder() as recorder:
        model.step(lr, state)
    assert recorder.ops and LIFT_FRESH not in recorder.ops


@pytest.mark.parametrize("channels,height", [(48, 36), (3, 30), (5, 14)])
def test_row_split_warp_equals_one_grid_sample(channels: int, height: int) -> None:
    """The CPU inference warp cuts the output rows into batch items (PyTorch's CPU grid_sample
    uses one thread per item); the numbers must be the ones a single grid_sample gives."""
    from vsr.models.layers import _split_rows, backward_warp

    torch.manual_seed(0)
    image = torch.rand(1, channels, height, 20).contiguous(memory_format=torch.channels_last)
    flow = 3 * torch.randn(1, 2, height, 20)
    expected = backward_warp(image, flow)  # grad enabled: the plain path
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            assert _split_rows(image, height)
            split = backward_warp(image, flow)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(split, expected)
