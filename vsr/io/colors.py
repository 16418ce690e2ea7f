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
