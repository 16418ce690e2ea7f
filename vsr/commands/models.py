"""`vsr models`: the shipped models, their scale and validation metrics."""

from __future__ import annotations

import typer


def models() -> None:
    """List the shipped models with their scale and validation metrics."""
    from vsr.models.zoo import DEFAULT_FOR_SCALE, USES, shipped_models

    rows = []
    for m in shipped_models():
        psnr, bic = m.info.get("val_psnr_y"), m.info.get("val_bicubic_psnr_y")
        frames, val_input = m.info.get("val_frames_per_clip"), m.info.get("val_degradation", "BI")
        quality = (
            f"{psnr:.2f} dB, bicubic {bic:.2f} (first {frames} frames/clip, {val_input} input)"
            if psnr and bic
            else "-"
        )
        default = " (default)" if DEFAULT_FOR_SCALE.get(m.args.scale) == m.name else ""
        rows.append(
            f"{m.name + default:<22} x{m.args.scale}  {m.args.channels}ch x {m.args.blocks} blocks  "
            f"{m.info.get('stage', '?'):<5} {m.info.get('degradation', '?'):<5} "
            f"iters {m.info.get('iterations', '?'):<6} val PSNR-Y {quality}"
        )
        rows.append(f"{'':<22} use: {USES.get(m.name, '-')}")
    rows.append(f"{'bicubic':<22} any  built-in baseline (no model)")
    typer.echo("\n".join(rows))
