"""Upscale the bundled sample with the Python API (run from the repository root).

python samples/upscale_api.py [OUTPUT]
"""

from __future__ import annotations

import sys

import vsr

output = sys.argv[1] if len(sys.argv) > 1 else "city_1280x720.mp4"
report = vsr.upscale("samples/city_320x180.mp4", output, overwrite=True)
print(report.summary())
