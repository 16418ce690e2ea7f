"""Runtimes: ONNX Runtime matches eager fp32; cache keys follow everything an artefact depends on;
missing extras and devices give one clear line. GPU paths are marked `cuda`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.clips import make_clip, moving_batch
from vsr.cli import app
from vsr.engine.base import cache_key, weights_digest
from vsr.engine.build import build_runner
from vsr.engine.exported import export_onnx
from vsr.engine.ort import OrtGenerator
from vsr.engine.runtimes import backend_dtype
from vsr.errors import BackendUnavailableError, OptionError
from vsr.models.checkpoint import save_generator
from vsr.models.generator import FrameRecurrentGenerator
from vsr.models.zoo import load_model

pytest.importorskip("onnxruntime", reason="the [onnx] extra is not installed")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))


def test_ort_matches_eager_fp32(tmp_path: Path) -> None:
    eager, _ = build_runner("fast-x4", 4, backend="eager", dtype="float32")
    ort, _ = build_runner("fast-x4", 4, backend="ort")
    assert isinstance(ort.model, OrtGenerator)
    frames = moving_batch(
        6, 76, 44, seed=3
    )  # padded to 76x44 -> the model's multiple of 4 already; motion each frame
    a, b = eager.upscale(frames).data, ort.upscale(frames).data
    assert a.shape == b.shape == (6, 176, 304, 3)
    diff = (a.int() - b.int()).abs()
    assert diff.max() <= 1 and diff.float().mean() < 0.01  # fp32 rounding only, through the recurrence
    exported = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(exported) == 1  # one graph for this frame size, reused for every frame
    ort.upscale(moving_batch(2, 40, 32, seed=3))
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2  # another size, another graph


def test_ort_io_binding_matches_the_copying_path(tmp_path: Path) -> None:
    """The I/O-binding call (what CUDA uses: ORT reads and writes the tensors' own memory) gives
    the same folded output as the numpy path; bound to CPU memory here."""
    ort, _ = build_runner("fast-x4", 4, backend="ort")
    model = ort.model
    assert isinstance(model, OrtGenerator)
    lr, prev = torch.rand(2, 3, 32, 40), torch.rand(2, 3, 32, 40)
    folded = torch.rand(2, model.carried_channels, 32, 40)
    copied = model(lr, prev, folded)
    bound = model._forward_bound(lr, prev, folded)
    assert bound.shape == copied.shape and torch.equal(bound, copied)


def test_ort_exports_when_the_module_was_moved(tmp_path: Path) -> None:
    """The Runner moves the generator to its device (CUDA); the ONNX export must still trace a
    CPU model with CPU inputs. "meta" stands in for the other device here: a model moved there
    has no weights at all, so exporting from it fails."""
    model, _ = load_model("fast-x4")
    ort = OrtGenerator(model, torch.device("cpu")).to("meta")
    session = ort.session(32, 40)
    assert {i.name for i in session.get_inputs()} == {"lr", "prev_lr", "prev_folded"}
    assert next(model.parameters()).device.type == "cpu"  # the caller's model was not moved either


def test_export_ignores_the_callers_autocast(tmp_path: Path) -> None:
    """A runtime exports on its first frame, inside the Runner's autocast (bf16 on CPUs that have
    it); the graph must hold no bf16 and give what the fp32 model gives."""
    onnx = pytest.importorskip("onnx")
    model, _ = load_model("fast-x4")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        export_onnx(model, tmp_path / "inside.onnx", height=32, width=40)
    graph = onnx.load(str(tmp_path / "inside.onnx")).graph
    casts = [a.i for n in graph.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
    assert onnx.TensorProto.BFLOAT16 not in casts and onnx.TensorProto.FLOAT16 not in casts
    session = pytest.importorskip("onnxruntime").InferenceSession(str(tmp_path / "inside.onnx"))
    torch.manual_seed(1)
    lr, prev = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 40)
    folded = torch.rand(1, model.carried_channels, 32, 40)
    (got,) = session.run(None, {"lr": lr.numpy(), "prev_lr": prev.numpy(), "prev_folded": folded.numpy()})
    with torch.no_grad():
        want = model.float()(lr, prev, folded)
    assert float((torch.from_numpy(got) - want).abs().max()) < 1e-4


def test_ort_runs_a_hidden_state_model(tmp_path: Path) -> None:
    """A flow-free hidden-state generator (more carried channels) exports and matches eager."""
    torch.manual_seed(0)
    model = FrameRecurrentGenerator(channels=8, blocks=1, recurrence="hidden", state_channels=4)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / "hidden.safetensors"
    save_generator(model, path, {"iterations": 1})
    eager, _ = build_runner(str(path), 4, backend="eager", dtype="float32")
    ort, _ = build_runner(str(path), 4, backend="ort")
    frames = moving_batch(4, 40, 32, seed=3)
    diff = (eager.upscale(frames).data.int() - ort.upscale(frames).data.int()).abs()
    assert diff.max() <= 1


def test_torch_compile_matches_eager() -> None:
    eager, _ = build_runner("fast-x4", 4, backend="eager")  # bf16 autocast where the CPU has it
    compiled, _ = build_runner("fast-x4", 4, backend="compile")
    frames = moving_batch(4, 48, 32, seed=3)
    diff = (eager.upscale(frames).data.int() - compiled.upscale(frames).data.int()).abs()
    assert diff.max() <= 3 and diff.float().mean() < 0.1


def test_cache_key_changes_with_shape_precision_and_weights() -> None:
    model, _ = load_model("fast-x4")
    base = cache_key(model, format="trt", shape=(1, 48, 80), precision="float16")
    assert base == cache_key(model, format="trt", shape=(1, 48, 80), precision="float16")
    assert base != cache_key(model, format="trt", shape=(1, 48, 96), precision="float16")
    assert base != cache_key(model, format="trt", shape=(1, 48, 80), precision="float32")
    digest = weights_digest(model)
    with torch.no_grad():
        model.tail.bias[0] += 1e-3
    assert weights_digest(model) != digest
    assert base != cache_key(model, format="trt", shape=(1, 48, 80), precision="float16")


def test_backend_dtypes_and_missing_extras() -> None:
    cpu = torch.device("cpu")
    assert backend_dtype("auto", cpu, "ort") == torch.float32
    with pytest.raises(OptionError, match="float32"):
        backend_dtype("bfloat16", cpu, "ort")
    with pytest.raises(OptionError, match="not one of"):
        backend_dtype("auto", cpu, "tvm")
    try:
        import torch_tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailableError, match=r"\[trt\] extra"):
            build_runner("fast-x4", 4, backend="trt")


def test_cli_backend_ort_and_export(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=5, width=48, height=32)
    result = CliRunner().invoke(
        app, ["upscale", str(clip), str(tmp_path / "out.mkv"), "--backend", "ort", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "(float32)" in result.stderr
    onnx_path = tmp_path / "step.onnx"
    result = CliRunner().invoke(app, ["export", str(onnx_path), "--size", "64x48"])
    assert result.exit_code == 0 and onnx_path.stat().st_size > 10_000
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    assert [i.name for i in graph.input] == ["lr", "prev_lr", "prev_folded"]
    result = CliRunner().invoke(app, ["upscale", str(clip), str(tmp_path / "o2.mkv"), "--backend", "trt"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1


@pytest.mark.cuda
def test_cuda_fp16_matches_cpu_fp32() -> None:
    cpu, _ = build_runner("fast-x4", 4, device="cpu", dtype="float32")
    gpu, _ = build_runner("fast-x4", 4, device="cuda", dtype="float16")
    frames = moving_batch(6, 64, 48, seed=3)
    diff = (cpu.upscale(frames).host().int() - gpu.upscale(frames).host().int()).abs()
    assert diff.max() <= 3 and diff.float().mean() < 0.2


def test_auto_compiles_only_long_inputs_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsr.engine.runtimes import AUTO_COMPILE_FRAMES, resolve_backend

    cpu = torch.device("cpu")
    assert resolve_backend("auto", cpu, 100) == "eager"
    assert resolve_backend("auto", cpu, None) == "eager"
    expected = "compile" if any(__import__("shutil").which(c) for c in ("g++", "c++", "clang++")) else "eager"
    assert resolve_backend("auto", cpu, AUTO_COMPILE_FRAMES) == expected
    monkeypatch.setenv("PATH", "")  # no C++ compiler: Inductor cannot build kernels
    assert resolve_backend("auto", cpu, 10 * AUTO_COMPILE_FRAMES) == "eager"
    assert resolve_backend("ort", cpu, 10) == "ort"
    with pytest.raises(OptionError):
        resolve_backend("tvm", cpu, 10)


@pytest.mark.cuda
def test_cuda_graphs_compile_matches_eager() -> None:
    """--backend compile on CUDA replays each step as a CUDA graph ("reduce-overhead"); the
    recurrent state must survive the replays: same frames as eager, across two batches."""
    eager, _ = build_runner("fast-x4", 4, device="cuda", dtype="float16", backend="eager")
    graphs, _ = build_runner("fast-x4", 4, device="cuda", dtype="float16", backend="compile")
    frames = moving_batch(6, 64, 48, seed=3)
    for runner in (eager, graphs):
        runner.upscale(frames)
    diff = (eager.upscale(frames).host().int() - graphs.upscale(frames).host().int()).abs()
    assert diff.max() <= 3 and diff.float().mean() < 0.2


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.9.0+cu128", {"enabled_precisions": {torch.float16, torch.float32}}),
        (
            "2.10.0",
            {
                "use_explicit_typing": True,
                "enable_autocast": True,
                "autocast_low_precision_type": torch.float16,
            },
        ),
        (
            "2.11.0.dev20260101+cu130",
            {
                "use_explicit_typing": True,
                "enable_autocast": True,
                "autocast_low_precision_type": torch.float16,
            },
        ),
    ],
)
def test_trt_precision_keywords_follow_the_release(version: str, expected: dict) -> None:
    """From 2.10 explicit typing is the default and enabled_precisions beside it is an error."""
    from vsr.engine.tensorrt import precision_options

    assert precision_options(version, torch.float16) == expected
    assert precision_options(version, torch.float32) == {}


def test_trt_refuses_a_torch_tensorrt_built_for_another_torch() -> None:
    from vsr.engine.tensorrt import check_versions

    check_versions("2.11.0+cu128", "2.11.1")
    with pytest.raises(BackendUnavailableError, match=r"torch-tensorrt==2\.13\.\*"):
        check_versions("2.13.0+cpu", "2.12.0")


def test_trt_export_size_is_the_padding_bucket() -> None:
    """vsr export -f trt --size 320x180 must build the 320x192 engine that upscale pads 180 rows to."""
    from vsr.engine.tensorrt import BUCKET, bucket

    assert (bucket(320), bucket(180), bucket(176)) == (320, 192, 176)
    assert all(bucket(n) % BUCKET == 0 and 0 <= bucket(n) - n < BUCKET for n in range(1, 200))


def test_compile_failure_falls_back_loudly(caplog: pytest.LogCaptureFixture) -> None:
    """A compiler that fails at the first step: the step still runs (eager), and the fallback is
    recorded for vsr bench and logged, instead of eager speed being reported as compile's."""
    from vsr.engine.compiled import CompiledGenerator

    model, _ = load_model("fast-x4")
    gen = CompiledGenerator(model)

    class Broken(torch.nn.Module):
        def forward(self, *_: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("no C++ compiler found\nmore detail")

    gen._compiled = Broken()
    lr = torch.rand(1, 3, 16, 16)
    state = gen.init_state(lr)
    with torch.no_grad():
        out = gen(lr, *state)
        torch.testing.assert_close(out, model(lr, *state))
    assert gen.fallback == "eager PyTorch, torch.compile failed (RuntimeError: no C++ compiler found)"
    assert "running eager PyTorch" in caplog.text
