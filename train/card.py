"""Write the model card of a shipped model from its metadata, training log and benchmark results.

    python -m train.card fast-x4 --log train/logs/fast-x4/log.jsonl \\
        --quality benchmarks/results/quality_fast-x4.json --speed benchmarks/results/speed_cpu.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vsr.models.zoo import WEIGHTS_DIR, load_model, shipped_models


def training_hours(log_path: Path) -> float:
    seconds, last_iter = 0.0, 0
    for line in log_path.read_text().splitlines():
        entry = json.loads(line)
        if "s_per_iter" in entry:
            seconds += entry["s_per_iter"] * (entry["iter"] - last_iter)
            last_iter = entry["iter"]
    return seconds / 3600


def metrics_table(report: dict) -> str:
    """A markdown table of report['summary'][setting][method] -> PSNR-Y, SSIM-Y, tOF, flicker, and
    the detail ratio, ERQA and JOD where the report has them (reports before they existed do not)."""
    jod = any("jod" in m for methods in report["summary"].values() for m in methods.values())
    rows = [
        "| LR input | method | PSNR-Y (dB) | SSIM-Y | tOF | flicker | detail | ERQA |"
        + (" JOD |" if jod else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if jod else ""),
    ]
    for setting, methods in report["summary"].items():
        for method, m in methods.items():
            detail, erqa, jod_value = (f"{m[k]:.3f}" if k in m else "-" for k in ("detail", "erqa", "jod"))
            rows.append(
                f"| {setting} | {method} | {m['psnr_y']:.3f} | {m['ssim_y']:.4f} | {m['tof']:.3f} "
                f"| {m['flicker']:.3f} | {detail} | {erqa} |" + (f" {jod_value} |" if jod else "")
            )
    return "\n".join(rows)


DEGRADATIONS = {
    "BI": "BI (antialiased bicubic x{scale}, 8-bit)",
    "BD": "BD (Gaussian blur sigma 1.5, then every {scale}th pixel)",
    "real": "real-world mix, two rounds of: random anisotropic Gaussian blur, resize (area/bilinear/bicubic), "
    "Gaussian or Poisson noise, H.264 or H.265 at CRF 18-35 (through PyAV); new parameters per window",
    "web": "web mix calibrated on real low-resolution footage: optional light blur, resize (antialiased bicubic, "
    "area or aliasing bilinear), optional sharpening, light Gaussian noise, H.264 at CRF 18-32; new parameters "
    "per window",
    "mixed": "half the windows the real-world mix (two rounds of random blur, resize, Gaussian or Poisson noise, "
    "H.264/H.265 at CRF 18-35), half the web mix (optional light blur, resize, optional sharpening, light noise, "
    "H.264 at CRF 18-32); new parameters per window",
    "broad": "per window, the real-world mix (40 %: two rounds of random blur, resize, Gaussian or Poisson noise, "
    "H.264/H.265 at CRF 18-35), the web mix (30 %: optional light blur, resize, optional sharpening, light noise, "
    "H.264 at CRF 18-32) or a clean source (30 %: BI, then H.264 at CRF 18-32)",
}


TRAINED_ON = "a 2-core AMD EPYC (AVX-512)"  # the machine of the first shipped models


def _frames_text(quality: dict) -> str:
    """ "All frames", or "The first N frames" where the evaluation was limited (--frames N)."""
    limit = quality.get("frames_per_clip")
    if limit is None:  # results written before the field: the recorded command says it
        words = quality.get("command", "").split()
        limit = int(words[words.index("--frames") + 1]) if "--frames" in words else None
    return f"The first {limit} frames" if limit and limit < 10_000 else "All frames"


def architecture_text(args) -> str:  # noqa: ANN001 - GeneratorArgs
    if args.recurrence == "hidden":
        return (
            f"{args.channels} channels x {args.blocks} residual blocks, flow-free hidden-state recurrence "
            f"(RLSP/RRN style: previous LR frame, previous "
            f"{'residual (the detail added to its bicubic upsample)' if args.feedback == 'residual' else 'output'} "
            f"folded and {args.state_channels} hidden feature channels carried from frame to frame)"
        )
    warp = "HR" if args.hr_warp else "folded (LR-resolution)"
    return f"{args.channels} channels x {args.blocks} residual blocks, flow net {args.flow_channels} channels, {warp} warping"


def stage_text(config: dict, flow: bool = True) -> str:
    warp = f" + {config['warp_weight']} x warping loss" if flow else ""
    if config.get("stage", "psnr") == "psnr":
        return f"psnr (Charbonnier on HR frames{warp})"
    parts = [f"Charbonnier{' + ' + str(config['warp_weight']) + ' x warping' if flow else ''}"]
    if config.get("pingpong"):
        parts.append(f"{config['pingpong_weight']} x ping-pong")
    d = "spatio-temporal" if config.get("temporal_d") else "spatial (single-frame)"
    parts.append(
        f"{config['adv_weight']} x adversarial ({d} discriminator, {config['d_channels']} ch, lr {config['d_lr']})"
    )
    parts.append(f"{config['fm_weight']} x feature matching")
    if config.get("freq_weight"):
        parts.append(f"{config['freq_weight']} x frequency (2-D spectrum L1)")
    if config.get("ldl_weight"):
        parts.append(f"{config['ldl_weight']} x LDL artifact map")
    extras = []
    if config.get("usm"):
        extras.append(f"pixel, frequency and LDL targets unsharp-masked (amount {config['usm']})")
    if config.get("d_detail_gain"):
        extras.append(f"D sees the detail above bicubic x {config['d_detail_gain']}")
    if config.get("adv_warmup"):
        extras.append(f"adversarial and feature matching faded in over {config['adv_warmup']} iterations")
    return (
        f"gan, initialised from `{config['init_from']}`: "
        + " + ".join(parts)
        + "".join(f"; {e}" for e in extras)
        + f"; EMA {config['ema']} of G (exported)"
    )


def windows_text(config: dict) -> list[str]:
    lines = []
    if config.get("moving"):
        lines.append(
            f"- {config['moving']:.0%} of windows are moving-frame windows (one frame seen through a crop "
            "sliding by whole HR pixels per frame: exact, mostly sub-LR-pixel motion)."
        )
    if config.get("soft"):
        lines.append(
            f"- {config['soft']:.0%} of windows have a soft target (blurred, or resampled down and up, before "
            "the degradation), so the model learns not to invent detail the LR frame does not show."
        )
    if config.get("reset_state"):
        lines.append("- Trained with the state reset on every frame: a single-frame model (the ablation).")
    return lines


def render(
    name: str,
    log_path: Path,
    quality: dict | None,
    speed: dict | None,
    notes: str,
    comparison: dict | None = None,
    trained_on: str = TRAINED_ON,
) -> str:
    scale = {m.name: m.args.scale for m in shipped_models()}[name]
    model, info = load_model(name, scale)
    params = sum(p.numel() for p in model.parameters())
    args = model.args
    config = json.loads((log_path.parent / "config.json").read_text())
    parts = [
        f"# {name}",
        "",
        f"Frame-recurrent generator, x{args.scale}: {architecture_text(args)}; {params:,} parameters.",
        "",
        "## Training",
        "",
        f"- Data: `{config['train_dir']}` (the permissive clips of ../shared/data/MANIFEST.md; "
        f"no restricted clip), first {config['max_frames_per_clip']} frames of each clip.",
        f"- Degradation: {DEGRADATIONS[config.get('degradation', 'BI')].format(scale=args.scale)}.",
        f"- Stage: {stage_text(config, flow=args.recurrence == 'flow')}.",
        *windows_text(config),
        f"- {info['iterations']} iterations, batch {config['batch']}, windows of {config['frames']} frames, "
        f"HR crops {config['crop']}x{config['crop']}, Adam lr {config['lr']} with warm-up and cosine decay; "
        f"{training_hours(log_path):.2f} h on {config['threads']} thread(s) of {trained_on}, "
        f"seed {config['seed']}.",
        f"- Log: `{log_path}` (JSON lines: losses, learning rate, validation PSNR-Y every {config['val_every']} "
        f"iterations on the first {config.get('val_frames', 20)} frames of each validation clip, "
        f"{config.get('val_degradation', 'BI')} input).",
    ]
    if notes:
        parts += [f"- {notes}"]
    if quality:
        parts += [
            "",
            "## Validation",
            "",
            f"{_frames_text(quality)} of the {len(next(iter(quality['clips'].values())))} clips in "
            "`../shared/data/val/` "
            "(never used for training). " + quality["metrics"] + ".",
            f'Model run in {quality["dtype"]} (the CPU default). "model-per-frame" is the same model with its '
            "recurrent state reset on every frame (no temporal information); BI+H264 is the BI input "
            "compressed with libx264 CRF 23 (preset medium); real and web are vsr.degradations' camera/stream "
            "mixes drawn with the seed 1000 + the clip's place in sorted order (the fixed `real` validation set).",
            "",
            metrics_table(quality),
            "",
            f"Command: `{quality['command']}`",
        ]
    if comparison:
        parts += [
            "",
            "## Comparison",
            "",
            f"First {comparison['frames_per_clip']} frames of each clip in `../shared/data/val/`. "
            + comparison["metrics"]
            + ". Lower tOF and flicker mean closer to the ground truth's motion.",
            "",
            metrics_table(comparison),
            "",
            f"Command: `{comparison['command']}`",
        ]
    if speed and "median_fps" in speed:  # benchmarks/model_speed_ab.py
        cpu = speed["machine"]["cpu"]
        isa = speed["machine"].get("cpu_capability", "")
        rounds = len(next(iter(speed["rounds"].values())))
        parts += [
            "",
            f"## Speed ({cpu}, {isa}, 2 cores, no GPU)",
            "",
            f"Model stage (what `vsr bench` reports as model) 320x180 -> 1280x720, {speed['dtype']}, batch "
            f"{speed['batch']}, median of {rounds} alternating rounds: "
            + ", ".join(f"{label} {fps:.1f} fps" for label, fps in speed["median_fps"].items())
            + ".",
            "",
            f"Command: `{speed['command']}`",
        ]
    elif speed:
        stage = speed["model_stage_fps"]
        parts += [
            "",
            "## Speed (2-core AMD EPYC, no GPU)",
            "",
            "Model stage 320x180 -> 1280x720: "
            + ", ".join(f"{k} {v:.1f} fps" for k, v in stage.items())
            + ".",
        ]
        for label, e in speed["end_to_end"].items():
            parts.append(
                f"`vsr upscale` end to end ({label}): {e['fast-x4_fps']:.1f} fps; bicubic baseline through the same "
                f"decoder and encoder {e['bicubic_fps']:.1f} fps (time ratio {e['time_ratio_vs_bicubic']:.2f})."
            )
        parts += ["", f"Command: `{speed['command']}`"]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m train.card", description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--quality", type=Path)
    parser.add_argument("--speed", type=Path)
    parser.add_argument("--comparison", type=Path, help="benchmarks/compare_temporal.py JSON")
    parser.add_argument("--notes", default="")
    parser.add_argument("--trained-on", default=TRAINED_ON, help="the machine, as the card names it")
    args = parser.parse_args()
    comparison = json.loads(args.comparison.read_text()) if args.comparison else None
    quality = json.loads(args.quality.read_text()) if args.quality else None
    speed = json.loads(args.speed.read_text()) if args.speed else None
    out = WEIGHTS_DIR / f"{args.name}.md"
    out.write_text(render(args.name, args.log, quality, speed, args.notes, comparison, args.trained_on))
    print(out)


if __name__ == "__main__":
    main()
