"""The writer: encode upscaled FrameBatches with PyAV and remux the input's other streams."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import OptionError, OutputError
from vsr.frames import FrameBatch
from vsr.io.colors import swscale_colorspace, yuv_tags_for_rgb_source
from vsr.io.reader import VideoInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str | None = None  # None: keep the input's bit depth, 4:2:0


def check_encoder(name: str) -> av.Codec:
    try:
        codec = av.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise OptionError(f"--codec {name!r}: FFmpeg has no such encoder here") from None
    if codec.type != "video":
        raise OptionError(f"--codec {name!r} is not a video encoder")
    return codec


def chroma_layout(pix_fmt: str) -> str:
    """ "rgb", "444", "422" or "420" (also for grey and anything subsampled further)."""
    try:
        fmt = av.VideoFormat(pix_fmt)
    except ValueError:
        return "420"
    if fmt.is_rgb:
        return "rgb"
    full, half_w = fmt.chroma_width(64) == 64, fmt.chroma_width(64) == 32
    if full and fmt.chroma_height(64) == 64 and len(fmt.components) >= 3:
        return "444"
    if half_w and fmt.chroma_height(64) == 64:
        return "422"
    return "420"


def _wanted_formats(layout: str, deep: bool) -> list[str]:
    """Output formats in order of preference for an input of this chroma layout and depth: the
    input's own chroma resolution first (an RGB or 4:4:4 source written as 4:2:0 loses up to
    1 dB PSNR-Y of what the model made), then 4:2:0."""

    def depth(*names: str) -> list[str]:
        return [n for name in names for n in ((f"{name}10le", name) if deep else (name,))]

    by_layout = {
        "rgb": (["gbrp10le", "gbrp16le", "rgb48le"] if deep else ["gbrp", "bgr0", "rgb24", "bgr24"])
        + depth("yuv444p"),
        "444": depth("yuv444p"),
        "422": depth("yuv422p"),
        "420": [],
    }
    return by_layout[layout] + depth("yuv420p")


def choose_pix_fmt(
    codec: av.Codec, requested: str | None, bit_depth: int, source_pix_fmt: str = "yuv420p"
) -> str:
    supported = [f.name for f in codec.video_formats or []]
    if requested is not None:
        if supported and requested not in supported:
            raise OptionError(
                f"--pix-fmt {requested!r} is not supported by {codec.name} (it takes {', '.join(supported)})"
            )
        return requested
    wanted = _wanted_formats(chroma_layout(source_pix_fmt), bit_depth > 8)
    for name in wanted:
        if not supported or name in supported:
            return name
    return supported[0]


_CRF_ENCODERS = {"libx264", "libx265", "libsvtav1", "libaom-av1", "libvpx-vp9"}
_PRESET_ENCODERS = {"libx264", "libx265", "libsvtav1"}
# NVENC names its presets p1 (fastest) .. p7 (best); x264's names, which --preset takes, map onto them.
NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p3",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
    "placebo": "p7",
}
NVENC_MAX_SIZE = {"h264_nvenc": 4096, "hevc_nvenc": 8192, "av1_nvenc": 8192}  # pixels, each side
SOFTWARE_EQUIVALENT = {"h264_nvenc": "libx264", "hevc_nvenc": "libx265", "av1_nvenc": "libsvtav1"}


def encoder_starts(name: str) -> str | None:
    """None if the encoder opens here on a small frame, else FFmpeg's reason."""
    cc = av.CodecContext.create(name, "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base = 256, 256, "yuv420p", Fraction(1, 25)
    try:
        cc.open()
    except av.FFmpegError as exc:
        return exc.strerror or type(exc).__name__
    return None


def usable_encoder(settings: EncodeSettings, width: int, height: int) -> EncodeSettings:
    """`settings` with an encoder that can run here at width x height.

    NVENC is checked before any work: past its size limit (H.264 stops at 4096 pixels a side)
    it is refused in one line; where it cannot start (no NVIDIA GPU, or one without NVENC such as
    the H100 and H200) the software encoder for the same format takes over, with one warning."""
    name = settings.codec
    if not name.endswith("_nvenc"):
        return settings
    limit = NVENC_MAX_SIZE.get(name)
    if limit is not None and max(width, height) > limit:
        raise OptionError(
            f"--codec {name}: NVENC encodes at most {limit} pixels a side, and the output is "
            f"{width}x{height}; use --codec hevc_nvenc (up to 8192) or a software encoder"
        )
    reason = encoder_starts(name)
    if reason is None:
        return settings
    software = SOFTWARE_EQUIVALENT.get(name, "libx264")
    log.warning(
        "--codec %s cannot start here (%s: no NVENC on this machine; H100/H200 GPUs have none); encoding with %s",
        name,
        reason,
        software,
    )
    return replace(settings, codec=software)


def _quality_options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """Map --crf/--preset onto each encoder's own option names (ignored where it has none)."""
    options: dict[str, str] = {}
    nvenc = codec.endswith("_nvenc")
    if crf is not None and (codec in _CRF_ENCODERS or nvenc):
        options["cq" if nvenc else "crf"] = str(crf)
        if codec == "libvpx-vp9":
            options["b"] = "0"  # constant quality mode
    if preset is not None and (codec in _PRESET_ENCODERS or nvenc):
        options["preset"] = NVENC_PRESETS.get(preset, preset) if nvenc else preset
    return options


def configure_encoder(
    cc: av.VideoCodecContext,
    info: VideoInfo,
    width: int,
    height: int,
    settings: EncodeSettings,
    pix_fmt: str,
) -> None:
    """Geometry, timing, colour tags and quality options of an encoder, before it is opened."""
    rate = info.rate or Fraction(25)
    cc.width, cc.height, cc.pix_fmt = width, height, pix_fmt
    cc.time_base = info.time_base
    cc.framerate = rate
    if info.sample_aspect_ratio:
        cc.sample_aspect_ratio = info.sample_aspect_ratio
    cc.colorspace, cc.color_range = info.colorspace, info.color_range
    cc.color_primaries, cc.color_trc = info.color_primaries, info.color_trc
    cc.options = _quality_options(settings.codec, settings.crf, settings.preset)
    cc.thread_type = "AUTO"


def open_encoder(cc: av.VideoCodecContext, codec: str) -> None:
    """Open now, so an encoder that cannot run here fails before any frame is decoded."""
    try:
        cc.open()
    except av.FFmpegError as exc:
        raise OptionError(
            f"--codec {codec}: the encoder does not start with these settings ({exc.strerror}); "
            "hardware encoders need their GPU"
        ) from None


def encoder_frames(batch: FrameBatch, pix_fmt: str, info: VideoInfo) -> Iterator[av.VideoFrame]:
    """The batch's images as VideoFrames in the encoder's format and colour space.

    RGB is converted by swscale with the output's matrix and range; yuv420p batches were
    converted on the device (with the same tags) and go to a yuv420p encoder as they are."""
    data = batch.host().numpy()
    if batch.layout == "yuv420p":
        if pix_fmt != "yuv420p":
            raise ValueError(f"a yuv420p batch cannot feed a {pix_fmt} encoder")
        for planes, pts in zip(data, batch.pts, strict=True):
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.colorspace, frame.color_range = info.colorspace, info.color_range
            frame.pts, frame.time_base = pts, batch.time_base
            yield frame
        return
    fmt = "rgb24" if batch.data.dtype.itemsize == 1 else "rgb48le"
    colorspace = swscale_colorspace(info.colorspace)
    for image, pts in zip(data, batch.pts, strict=True):
        frame = av.VideoFrame.from_ndarray(image, format=fmt)
        frame = frame.reformat(
            format=pix_fmt, dst_colorspace=colorspace, dst_color_range=info.color_range or None
        )
        frame.pts, frame.time_base = pts, batch.time_base
        yield frame


def output_pix_fmt(info: VideoInfo, height: int, settings: EncodeSettings) -> tuple[str, VideoInfo]:
    """The encoder's pixel format, and `info` with YUV tags where an RGB source is encoded as YUV."""
    pix_fmt = choose_pix_fmt(check_encoder(settings.codec), settings.pix_fmt, info.bit_depth, info.pix_fmt)
    if pix_fmt.startswith(("yuv", "nv", "p0")):  # an RGB source (e.g. H.264 gbrp) needs YUV tags
        colorspace, color_range = yuv_tags_for_rgb_source(info.colorspace, info.color_range, height)
        info = replace(info, colorspace=colorspace, color_range=color_range)
    return pix_fmt, info


class VideoWriter:
    """Encodes frames into `path` and copies the given side streams, interleaved by time."""

    def __init__(
        self,
        path: str | Path,
        *,
        info: VideoInfo,
        width: int,
        height: int,
        settings: EncodeSettings,
        side_streams: list[av.stream.Stream],
        attachments: Sequence[av.stream.Stream] = (),
        display_name: str | None = None,
    ) -> None:
        self.pix_fmt, info = output_pix_fmt(info, height, settings)
        try:
            self.container = av.open(str(path), "w")
        except ValueError:
            name = display_name or str(path)
            raise OutputError(
                f"output {name!r}: cannot tell the container from its extension (use e.g. .mp4 or .mkv)"
            ) from None
        except av.FFmpegError as exc:
            raise OutputError(f"cannot create output {display_name or str(path)!r}: {exc.strerror}") from None
        try:
            self._add_video(info, width, height, settings)
            self._add_side_streams(side_streams)
            self._add_attachments(attachments)
        except BaseException:
            self.container.close()
            raise
        self.info = info
        self._pending: deque[av.Packet] = deque()
        self._video_time = float("-inf")
        self.frames_written = 0

    def _add_video(self, info: VideoInfo, width: int, height: int, settings: EncodeSettings) -> None:
        stream = self.container.add_stream(settings.codec, rate=info.rate or Fraction(25))
        stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
        stream.time_base = info.time_base
        configure_encoder(stream.codec_context, info, width, height, settings, self.pix_fmt)
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        open_encoder(stream.codec_context, settings.codec)
        self.video = stream

    def _add_side_streams(self, side_streams: list[av.stream.Stream]) -> None:
        self.side_map: dict[int, av.stream.Stream] = {}
        supported = self.container.supported_codecs
        for s in side_streams:
            name = s.codec_context.name if s.codec_context is not None else "unknown"
            if name not in supported:
                log.warning(
                    "output format %s cannot hold %s stream #%d (%s); it is left out",
                    self.container.format.name,
                    s.type,
                    s.index,
                    name,
                )
                continue
            self.side_map[s.index] = self.container.add_stream_from_template(s)

    def _add_attachments(self, attachments: Sequence[av.stream.Stream]) -> None:
        """Copy attached files (fonts for subtitles, cover art); only Matroska can hold them."""
        for s in attachments:
            if self.container.format.name != "matroska":
                log.warning(
                    "output format %s cannot hold attachment %r; it is left out (use .mkv to keep it)",
                    self.container.format.name,
                    s.name,
                )
                continue
            self.container.add_attachment(name=s.name, mimetype=s.mimetype or "", data=s.data)

    def write(self, batch: FrameBatch) -> None:
        for frame in encoder_frames(batch, self.pix_fmt, self.info):
            self._mux(self.video.encode(frame))
            self._video_time = float(frame.pts * batch.time_base)
            self.frames_written += 1
        self._flush_side(self._video_time)

    def copy_video(self, packet: av.Packet) -> None:
        """Mux an already encoded video packet (from a resumable job's segments)."""
        packet.stream = self.video
        self.container.mux(packet)
        if packet.pts is not None:
            self._video_time = max(self._video_time, float(packet.pts * packet.time_base))
        self._flush_side(self._video_time)

    def add_side_packet(self, packet: av.Packet) -> None:
        """Queue a copied packet; it is muxed once the video has caught up with its time."""
        if packet.stream.index in self.side_map:
            self._pending.append(packet)

    def _flush_side(self, until: float) -> None:
        while self._pending:
            packet = self._pending[0]
            ts = packet.dts if packet.dts is not None else packet.pts
            if ts is not None and float(ts * packet.time_base) > until:
                break
            self._pending.popleft()
            packet.stream = self.side_map[packet.stream.index]
            self.container.mux(packet)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.container.mux(packet)

    def finish(self) -> None:
        """Flush the encoder and the queued side packets, and write the trailer."""
        self._mux(self.video.encode(None))
        self._flush_side(float("inf"))
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - closing a half-written file may fail; it is deleted next
            log.debug("closing the aborted output failed", exc_info=True)


def partial_path(output: Path) -> Path:
    """The temporary name beside `output` that is renamed to it on success."""
    return output.with_name(f".{output.stem}.vsr-partial{output.suffix}")


@contextmanager
def atomic_output(output: Path) -> Iterator[Path]:
    """Yield a temporary path beside `output`; rename it to `output` only if the block succeeds."""
    tmp = partial_path(output)
    try:
        yield tmp
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
