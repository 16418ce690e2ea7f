"""Colour metadata: mapping FFmpeg's AVColorSpace tags onto swscale's conversion matrices."""

from __future__ import annotations

from av.video.reformatter import Colorspace

# AVCOL_SPC_* (what frames and streams are tagged with) -> SWS_CS_* (the matrix swscale uses).
_SWS_MATRIX = {
    1: Colorspace.ITU709,  # BT709
    4: Colorspace.FCC,  # FCC
    5: Colorspace.ITU601,  # BT470BG
    6: Colorspace.SMPTE170M,  # SMPTE170M
    7: Colorspace.SMPTE240M,  # SMPTE240M
    9: Colorspace.BT2020,  # BT2020_NCL
    10: Colorspace.BT2020,  # BT2020_CL
}


def swscale_colorspace(avcol_spc: int) -> Colorspace | None:
    """The swscale matrix for an AVColorSpace tag; None (swscale's BT.601 default) if untagged."""
    return _SWS_MATRIX.get(avcol_spc)


AVCOL_SPC_RGB = 0
AVCOL_SPC_BT709 = 1
AVCOL_SPC_SMPTE170M = 6
AVCOL_RANGE_MPEG = 1  # limited (16-235)


def yuv_tags_for_rgb_source(colorspace: int, color_range: int, height: int) -> tuple[int, int]:
    """(colorspace, range) for a YUV output of a source: an RGB source (tagged GBR, full range)
    gets the matrix its size implies (BT.709 from 720 lines up, else BT.601) and limited range;
    any other source keeps its own tags."""
    if colorspace != AVCOL_SPC_RGB:
        return colorspace, color_range
    return (AVCOL_SPC_BT709 if height >= 720 else AVCOL_SPC_SMPTE170M), AVCOL_RANGE_MPEG
