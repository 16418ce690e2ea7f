"""Probe: the int8 CPU runtimes issue 14 lists beside OpenVINO + NNCF, on the generator's step.

For one model and frame size (default `fast-x4`, 320x180 -> 1280x720), on the CPU with the
Runner's threads:

- eager fp32 (channels_last, as the Runner runs it): the reference;
- `openvino-int8`: vsr's backend (NNCF, MIXED preset, bicubic path in f32);
- ONNX Runtime int8: `onnxruntime.quantization.quantize_static`, QDQ, per-channel s8 weights and
  u8 activations, the bicubic path excluded as for OpenVINO; with and without `reduce_range`
  (7-bit weights, which ONNX Runtime advises on CPUs without VNNI, where u8 x s8 products can
  saturate);
- PyTorch 2 export int8: torch.export, torchao's X86InductorQuantizer (static, per-channel),
  calibrated, converted and compiled by Inductor with freezing; two scopes: every layer but the
  bicubic module, and only the residual body (head, tail, flow and bicubic in fp32);
- the same exported graph compiled in fp32 (Inductor, freezing): what int8 is worth over compile.

All int8 variants are calibrated on the same inputs as the `openvino-int8` backend (the shipped
calibration frames through the fp32 recurrence). Speed: one frame per call, alternating rounds,
median fps of each. Quality: each runtime carries its own state through the first `--frames`
frames of the sample; PSNR (RGB, HR) of its output against eager fp32. Needs the [int8] extra and
`pip install torchao`; a runtime that is missing or fails is reported with its error.

    python benchmarks/int8_runtimes.py --json benchmarks/results/int8_runtimes_zen3.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vsr.bench import save_result  # noqa: E402
from vsr.engine.exported import export_onnx  # noqa: E402
from vsr.engine.openvino import OpenVinoGenerator, calibration_inputs  # noqa: E402
from vsr.models.generator import hr_frame  # noqa: E402
from vsr.models.zoo import load_model  # noqa: E402

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def sample_frames(count: int) -> list[torch.Tensor]:
    with av.open(str(ROOT / "samples" / "city_320x180.mp4")) as container:
        frames = [
            f.to_ndarray(format="rgb24")
            for _, f in zip(range(count), container.decode(video=0), strict=False)
        ]
    return [torch.from_numpy(f).permute(2, 0, 1)[None].float().div(255) for f in frames]


def ort_int8(
    model: torch.nn.Module, feeds: list[dict], h: int, w: int, reduce_range: bool, tmp: Path
) -> Step:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    source = export_onnx(model, tmp / "step.onnx", height=h, width=w)
    graph = onnx.load(str(source))
    produced_by_bicubic = {
        out for node in graph.graph.node if node.name.startswith("/bicubic") for out in node.output
    }
    excluded = [
        node.name
        for node in graph.graph.node
        if node.name.startswith("/bicubic")
        or (node.op_type in ("Add", "Sub") and any(i in produced_by_bicubic for i in node.input))
    ]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self.items, None)

    target = tmp / f"step-int8-{int(reduce_range)}.onnx"
    quantize_static(
        str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        nodes_to_exclude=excluded,
    )  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])

    def step(lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        inputs = {"lr": lr.numpy(), "prev_lr": prev_lr.numpy(), "prev_folded": prev_folded.numpy()}
        return torch.from_numpy(session.run(None, inputs)[0])

    return step


def pt2e(model: torch.nn.Module, feeds: list[dict], scope: str) -> Step:
    """scope: "all" (every layer but the bicubic base), "body" (the residual blocks only), or
    "fp32" (no quantization: the exported graph compiled as it is)."""
    import torch._inductor.config as inductor_config
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = tuple(torch.from_numpy(feeds[0][k]) for k in ("lr", "prev_lr", "prev_folded"))
    with torch.no_grad():
        graph = torch.export.export(model, example).module()
        if scope != "fp32":
            quantizer = xiq.X86InductorQuantizer()
            config = xiq.get_default_x86_inductor_quantization_config()
            if scope == "all":
                quantizer.set_global(config)
                quantizer.set_module_name_qconfig("bicubic", None)
            else:
                quantizer.set_module_name_qconfig(scope, config)
            prepared = prepare_pt2e(graph, quantizer)
            for feed in feeds:
                prepared(*(torch.from_numpy(feed[k]) for k in ("lr", "prev_lr", "prev_folded")))
            graph = convert_pt2e(prepared)
    inductor_config.freezing = True
    compiled = torch.compile(graph)

    def step(lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return compiled(lr, prev_lr, prev_folded)

    return step


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return 10 * np.log10(1 / mse) if mse > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast-x4")
    parser.add_argument("--frames", type=int, default=40, help="sample frames for the quality check")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per runtime per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)[0].float().eval()
    frames = sample_frames(args.frames)
    _, _, h, w = frames[0].shape
    feeds = calibration_inputs(model, h, w)
    eager = model.to(memory_format=torch.channels_last)

    def eager_step(lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return eager(lr, prev_lr, prev_folded)

    def fresh() -> torch.nn.Module:
        return load_model(args.model)[0].float().eval()

    runtimes: dict[str, Step] = {"eager fp32": eager_step}
    setup: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        makers: dict[str, Callable[[], Step]] = {
            "openvino-int8": lambda: OpenVinoGenerator(model, torch.device("cpu"), torch.float32, int8=True),
            "ort int8": lambda: ort_int8(model, feeds, h, w, False, Path(tmp)),
            "ort int8 reduce_range": lambda: ort_int8(model, feeds, h, w, True, Path(tmp)),
            "compile fp32 (export, inductor)": lambda: pt2e(fresh(), feeds, "fp32"),
            "pt2e x86 int8, all but bicubic": lambda: pt2e(fresh(), feeds, "all"),
            "pt2e x86 int8, body only": lambda: pt2e(fresh(), feeds, "body"),
        }
        for name, make in makers.items():
            start = time.perf_counter()
            try:
                runtimes[name] = make()
                state = model.init_state(frames[0])
                runtimes[name](frames[0], *state)  # first call: compile / plan
                setup[name] = round(time.perf_counter() - start, 1)
            except Exception as exc:  # noqa: BLE001 (a probe: report what failed and go on)
                traceback.print_exc()
                setup[name] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                runtimes.pop(name, None)
            print(name, setup[name], flush=True)

        quality, outputs = {}, {}
        for name, step in runtimes.items():
            state = model.init_state(frames[0])
            hrs = []
            for lr in frames:
                folded = step(lr, *state).float()
                state = (lr, folded)
                hrs.append(hr_frame(folded, model.scale))
            outputs[name] = torch.cat(hrs)
        for name, out in outputs.items():
            if name != "eager fp32":
                quality[name] = round(float(psnr(out, outputs["eager fp32"])), 2)
        print("PSNR vs eager fp32:", quality, flush=True)

        lr = frames[0]
        state = model.init_state(lr)
        rounds: dict[str, list[float]] = {name: [] for name in runtimes}
        for _ in range(args.rounds):
            for name, step in runtimes.items():
                step(lr, *state)
                start = time.perf_counter()
                for _ in range(args.calls):
                    step(lr, *state)
                rounds[name].append(round(args.calls / (time.perf_counter() - start), 2))
        print("fps rounds:", rounds, flush=True)
    summary = {name: statistics.median(v) for name, v in rounds.items()}
    print("median fps:", summary)
    if args.json:
        save_result(
            args.json,
            command="python benchmarks/int8_runtimes.py " + " ".join(sys.argv[1:]),
            model=args.model,
            size=f"{w}x{h}",
            threads=args.threads,
            setup_s=setup,
            psnr_vs_eager_fp32_rgb_db=quality,
            fps_rounds=rounds,
            fps_median=summary,
        )


if __name__ == "__main__":
    main()
