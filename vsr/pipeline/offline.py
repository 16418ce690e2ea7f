"""File to file: decode -> upscale -> encode in three threads, written atomically."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import av
from tqdm import tqdm

from vsr.config import UpscaleConfig
from vsr.engine.backends import build_runner
from vsr.engine.runner import BicubicRunner
from vsr.errors import InputError, OutputError
from vsr.frames import FrameBatch
from vsr.io.reader import VideoReader
from vsr.io.writer import EncodeSettings, VideoWriter, atomic_output, check_encoder
from vsr.pipeline.stages import Pipeline


@dataclass(frozen=True)
class UpscaleReport:
    input: Path
    output: Path
    frames: int
    seconds: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    model: str
    device: str
    dtype: str
    scene_cuts: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        (w, h), (ow, oh) = self.input_size, self.output_size
        return (
            f"{self.frames} frames {w}x{h} -> {ow}x{oh} in {self.seconds:.1f} s ({self.fps:.1f} fps), "
            f"model {self.model} on {self.device} ({self.dtype}) -> {self.output}"
        )


def check_paths(input: Path, output: Path, overwrite: bool) -> None:
    if not input.exists():
        text = str(input)
        if "://" in text or text.startswith(("rtsp:/", "rtmp:/", "udp:/", "srt:/", "http:/", "https:/")):
            url = text if "://" in text else text.replace(":/", "://", 1)  # Path() folds the "//"
            raise InputError(f"input {url!r} is a URL: vsr upscale reads files; use vsr live for streams")
        raise InputError(f"input {str(input)!r} does not exist")
    if output.is_dir():
        raise OutputError(f"output {str(output)!r} is a directory; give a file name")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output directory {str(parent)!r} does not exist")
    if output.exists():
        if os.path.samefile(input, output):
            raise OutputError(f"output {str(output)!r} is the input file; choose another name")
        if not overwrite:
            raise OutputError(f"output {str(output)!r} exists; pass -y/--overwrite to replace it")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output directory {str(parent)!r} is not writable")


def upscale_file(cfg: UpscaleConfig) -> UpscaleReport:
    check_paths(cfg.input, cfg.output, cfg.overwrite)
    check_encoder(cfg.codec)
    settings = EncodeSettings(codec=cfg.codec, crf=cfg.crf, preset=cfg.preset, pix_fmt=cfg.pix_fmt)
    start = time.perf_counter()
    with VideoReader(cfg.input, stream_index=cfg.stream) as reader:
        vi = reader.info
        runner, model_name = build_runner(
            cfg.model,
            cfg.scale,
            backend=cfg.backend,
            device=cfg.device,
            dtype=cfg.dtype,
            frames_hint=vi.frames,
            trust_pickle=cfg.trust_pickle,
        )
        device = runner.device
        out_w, out_h = vi.width * cfg.scale, vi.height * cfg.scale
        with atomic_output(cfg.output) as tmp:
            writer = VideoWriter(
                tmp,
                info=vi,
                width=out_w,
                height=out_h,
                settings=settings,
                side_streams=reader.side_streams,
                display_name=str(cfg.output),
            )
            bar = tqdm(
                total=vi.frames or None,
                unit="frame",
                disable=not cfg.progress,
                dynamic_ncols=True,
                desc="upscale",
            )

            def encode(batch: FrameBatch) -> None:
                try:
                    writer.write(batch)
                except av.FFmpegError as exc:
                    raise OutputError(f"writing {str(cfg.output)!r} failed: {exc.strerror}") from None
                bar.update(len(batch))

            try:
                pipe = Pipeline(depth=4)
                decoded = pipe.source(
                    "decode", lambda: reader.batches(cfg.batch, side=writer.add_side_packet)
                )
                upscaled = pipe.stage("upscale", decoded, runner.upscale)
                pipe.sink("encode", upscaled, encode)
                pipe.run()
                try:
                    writer.finish()
                except av.FFmpegError as exc:
                    raise OutputError(f"finishing {str(cfg.output)!r} failed: {exc.strerror}") from None
            except BaseException:
                writer.abort()
                raise
            finally:
                bar.close()
    return UpscaleReport(
        input=cfg.input,
        output=cfg.output,
        frames=writer.frames_written,
        seconds=time.perf_counter() - start,
        input_size=(vi.width, vi.height),
        output_size=(out_w, out_h),
        model=model_name,
        device=str(device),
        dtype="float32"
        if isinstance(runner, BicubicRunner)
        else str(runner.settings.dtype).removeprefix("torch."),
        scene_cuts=runner.scene_cuts,
    )
