"""Drive the recurrent generator frame by frame with its streaming API (init_state / step).

This is what `vsr live` and the file pipeline do underneath: one state per sequence, carried
from frame to frame, no look-ahead. Writes the 10th upscaled frame next to a bicubic one as PNG.

    python samples/step_frames.py [OUTPUT.png]
"""

from __future__ import annotations

import sys

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F

import vsr

model, info = vsr.load_model("fast-x4")
print(f"{info['name']}: x{model.scale}, validation PSNR-Y {info['val_psnr_y']:.2f} dB")
state = None
with av.open("samples/city_320x180.mp4") as container, torch.inference_mode():
    for i, frame in enumerate(container.decode(video=0)):
        lr = (
            torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float() / 255
        )  # (1, 3, h, w)
        if state is None:
            state = model.init_state(lr)
        hr, state = model.step(lr, state)
        if i == 9:
            break
bicubic = F.interpolate(lr, scale_factor=model.scale, mode="bicubic")
side_by_side = (
    torch.cat([bicubic, hr], dim=-1)[0].clamp(0, 1).permute(1, 2, 0).mul(255).round().byte().numpy()
)
out = sys.argv[1] if len(sys.argv) > 1 else "step_frames.png"
cv2.imwrite(out, cv2.cvtColor(np.ascontiguousarray(side_by_side), cv2.COLOR_RGB2BGR))
print(f"bicubic | {info['name']} -> {out}")
