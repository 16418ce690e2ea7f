"""How fast can a fresh discriminator tell a PSNR model's frames from the ground truth?

In every GAN run so far D's loss stayed at chance (2 ln 2 = 1.386) for hundreds of iterations, so
the adversarial term pushed G nowhere. This probe isolates D: it runs a trained generator once on
training windows (the GAN stage's data pipeline, BI x4), stacks D's real and fake inputs as the
GAN stage does (with the generated frames clamped to [0, 1], as they are shown), then trains a fresh TemporalDiscriminator of each variant on the same inputs
and the same batches, and scores it on held-out windows every --eval-every steps:

- loss: D's held-out loss (1.386 = chance);
- accuracy: share of patch logits on the right side of 0 (real > 0, fake < 0);
- ranking: share of patches where the real input's logit beats the fake one's at the same place.

A variant is `name:key=value,...` with keys lr (D's Adam learning rate) and gain (the
--d-detail-gain of `python -m train`: 0 = D sees frames, > 0 = frame minus its bicubic LR, times
gain). The generator's own training is not part of the probe: it measures the starting point of
the GAN stage, which is where D has been stuck.

    python benchmarks/d_probe.py --threads 2 --steps 200 --variant frames-1e-4:lr=1e-4,gain=0 \
        --variant frames-5e-4:lr=5e-4,gain=0 --variant detail4-1e-4:lr=1e-4,gain=4 \
        --variant detail4-5e-4:lr=5e-4,gain=4 --json benchmarks/results/d_probe_zen3.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # train/ lives beside the package
from train.data import WindowDataset, find_clips, load_clips
from train.discriminator import TemporalDiscriminator, discriminator_inputs, triplet_flows
from train.losses import adversarial_d
from vsr.models.checkpoint import load_generator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VARIANTS = [
    "frames-1e-4:lr=1e-4,gain=0",
    "frames-5e-4:lr=5e-4,gain=0",
    "detail-1e-4:lr=1e-4,gain=4",
    "detail-5e-4:lr=5e-4,gain=4",
]


def parse_variant(text: str) -> tuple[str, dict[str, float]]:
    name, _, spec = text.partition(":")
    values = {"lr": 1e-4, "gain": 0.0}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key not in values:
            raise SystemExit(f"unknown variant key {key!r} in {text!r} (lr, gain)")
        values[key] = float(value)
    return name, values


@torch.no_grad()
def make_inputs(
    generator: torch.nn.Module, data: WindowDataset, windows: range, gain: float, batch: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """D's (real, fake) inputs for the centre frames of the given windows."""
    reals, fakes = [], []
    for start in range(windows.start, windows.stop, batch):
        items = [data[i] for i in range(start, min(start + batch, windows.stop))]
        lr = torch.stack([item[0] for item in items])
        hr = torch.stack([item[1] for item in items])
        out = generator.forward_sequence(lr)
        flows = triplet_flows(generator.flow, lr, out.flow)
        reals.append(discriminator_inputs(hr, lr, *flows, True, gain))
        fakes.append(discriminator_inputs(out.hr.clamp(0, 1), lr, *flows, True, gain))
    return torch.cat(reals), torch.cat(fakes)


@torch.no_grad()
def score(disc: TemporalDiscriminator, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    real_logits = torch.cat([disc(real[i : i + 16])[0] for i in range(0, len(real), 16)])
    fake_logits = torch.cat([disc(fake[i : i + 16])[0] for i in range(0, len(fake), 16)])
    accuracy = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean())
    return {
        "loss": round(float(adversarial_d(real_logits, fake_logits)), 4),
        "accuracy": round(float(accuracy), 4),
        "ranking": round(float((real_logits > fake_logits).float().mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "vsr/models/weights/fast-x4.safetensors"))
    parser.add_argument("--train-dir", default=str(ROOT.parent / "shared/data/train"))
    parser.add_argument("--cache-dir", default="~/.cache/vsr-train")
    parser.add_argument("--windows", type=int, default=64, help="training windows (held out: a quarter more)")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", action="append", default=None, help="name:lr=...,gain=... (repeatable)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator = load_generator(args.model)[0].eval()
    clips = load_clips(find_clips(args.train_dir), Path(args.cache_dir).expanduser() / "train")
    held = max(4, args.windows // 4)
    data = WindowDataset(
        clips,
        frames=args.frames,
        crop=args.crop,
        scale=generator.args.scale,
        seed=args.seed + 1000,
        length=args.windows + held,
    )
    variants = [parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS)]
    inputs: dict[float, tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {}
    results = []
    for name, spec in variants:
        gain = spec["gain"]
        if gain not in inputs:
            t0 = time.perf_counter()
            inputs[gain] = (
                make_inputs(generator, data, range(args.windows), gain),
                make_inputs(generator, data, range(args.windows, args.windows + held), gain),
            )
            print(f"inputs for gain {gain}: {time.perf_counter() - t0:.1f} s")
        (real, fake), (held_real, held_fake) = inputs[gain]
        torch.manual_seed(args.seed)
        disc = TemporalDiscriminator()
        opt = torch.optim.Adam(disc.parameters(), lr=spec["lr"], betas=(0.5, 0.99))
        order = torch.Generator().manual_seed(args.seed)
        curve = [{"step": 0, **score(disc, held_real, held_fake)}]
        t0 = time.perf_counter()
        for step in range(1, args.steps + 1):
            pick = torch.randint(len(real), (args.batch,), generator=order)
            logits = disc(torch.cat([real[pick], fake[pick]]))[0]
            loss = adversarial_d(logits[: args.batch], logits[args.batch :])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % args.eval_every == 0:
                curve.append(
                    {
                        "step": step,
                        "train_loss": round(float(loss.detach()), 4),
                        **score(disc, held_real, held_fake),
                    }
                )
                print(name, curve[-1], flush=True)
        results.append(
            {"variant": name, **spec, "seconds": round(time.perf_counter() - t0, 1), "curve": curve}
        )

    report = {
        "command": " ".join(["python", "benchmarks/d_probe.py", *sys.argv[1:]]),
        "machine": platform.processor() or platform.machine(),
        "generator": Path(args.model).name,
        "windows": args.windows,
        "held_out_windows": held,
        "frames": args.frames,
        "crop": args.crop,
        "batch": args.batch,
        "threads": args.threads,
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        last = r["curve"][-1]
        print(
            f"{r['variant']:>14}: held-out loss {last['loss']}, accuracy {last['accuracy']}, ranking {last['ranking']}"
        )


if __name__ == "__main__":
    main()
