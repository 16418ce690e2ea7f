"""Probe: OpenVINO int8 (NNCF post-training quantization) of the fast-x4 step against OpenVINO fp32.

Not a backend yet. Calibrates on 30 frames of the sample with the fp32 recurrent state, times both
on one 320x180 frame (2 threads, alternating rounds), and compares their outputs through the
recurrence on 40 later frames (PSNR of int8 against fp32, RGB). Needs `pip install nncf`.

    python benchmarks/int8_probe.py --json benchmarks/results/int8_probe_zen3.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vsr.bench import save_result  # noqa: E402
from vsr.engine.exported import export_onnx  # noqa: E402
from vsr.models.generator import hr_frame  # noqa: E402
from vsr.models.zoo import load_model  # noqa: E402


def sample_frames() -> list[torch.Tensor]:
    with av.open(str(ROOT / "samples" / "city_320x180.mp4")) as c:
        return [
            torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float() / 255
            for f in c.decode(video=0)
        ]


def main() -> None:
    import nncf
    import openvino as ov

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, _ = load_model("fast-x4", 4)
    model.eval()
    frames = sample_frames()
    h, w = frames[0].shape[-2:]
    path = export_onnx(model, Path(tempfile.mkdtemp()) / "step.onnx", height=h, width=w)
    calibration = []
    with torch.inference_mode():
        state = model.init_state(frames[0])
        for x in frames[:60]:
            calibration.append(
                {"lr": x.numpy(), "prev_lr": state[0].numpy(), "prev_folded": state[1].numpy()}
            )
            _, state = model.step(x, state)
    core = ov.Core()
    graph = core.read_model(str(path))
    graph.reshape(
        {"lr": [1, 3, h, w], "prev_lr": [1, 3, h, w], "prev_folded": [1, model.carried_channels, h, w]}
    )
    start = time.perf_counter()
    quantized = nncf.quantize(graph, nncf.Dataset(calibration[::2]), subset_size=30)
    result: dict = {"quantize_s": round(time.perf_counter() - start, 1), "rounds": []}
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2, "INFERENCE_PRECISION_HINT": "f32"}
    fp32 = core.compile_model(graph, "CPU", config).create_infer_request()
    int8 = core.compile_model(quantized, "CPU", config).create_infer_request()

    def fps(request: object, n: int = 30) -> float:
        feeds = calibration[5]
        for _ in range(3):
            request.infer(feeds)
        t = time.perf_counter()
        for _ in range(n):
            request.infer(feeds)
        return n / (time.perf_counter() - t)

    for _ in range(args.rounds):
        result["rounds"].append({"fp32_fps": round(fps(fp32), 1), "int8_fps": round(fps(int8), 1)})

    def through_recurrence(request: object) -> torch.Tensor:
        outputs, state = [], model.init_state(frames[60])
        for x in frames[60:100]:
            feeds = {"lr": x.numpy(), "prev_lr": state[0].numpy(), "prev_folded": state[1].numpy()}
            folded = torch.from_numpy(request.infer(feeds)[0].copy())
            outputs.append(hr_frame(folded, 4).clamp(0, 1))
            state = (x, folded)
        return torch.cat(outputs)

    mse = float(((through_recurrence(fp32) - through_recurrence(int8)) ** 2).mean())
    result["int8_vs_fp32_psnr_rgb_db"] = round(10 * np.log10(1 / mse), 2)
    print(result)
    if args.json:
        save_result(args.json, command="python benchmarks/int8_probe.py " + " ".join(sys.argv[1:]), **result)


if __name__ == "__main__":
    main()
