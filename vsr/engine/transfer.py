"""Moving frames between the host and the model's device.

On the CPU these are plain tensor operations. On CUDA an upload is staged in pinned (page-locked)
memory and copied on a stream of its own, which the compute stream waits on; a download is copied
into pinned memory on another stream, and the caller gets the CUDA event that marks its end
instead of waiting for it. So the upscale thread issues the next batch's upload and model steps
while the previous batch's frames are still on their way to the encoder, which waits on the event
(`FrameBatch.host()`). torch's caching host allocator keeps a pinned block from reuse until the
copies recorded on it have finished.
"""

from __future__ import annotations

from typing import Any

import torch


class DeviceIO:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        if self.cuda:
            self._upload = torch.cuda.Stream(device)
            self._download = torch.cuda.Stream(device)

    @staticmethod
    def _pinned(like: torch.Tensor) -> torch.Tensor:
        """Page-locked host memory of `like`'s shape and dtype (from torch's caching host allocator)."""
        return torch.empty(like.shape, dtype=like.dtype, pin_memory=True)

    def upload(self, data: torch.Tensor) -> torch.Tensor:
        """`data` on the device, ready for work issued next on the current stream."""
        if not self.cuda or data.device.type == "cuda":
            return data.to(self.device)
        staged = data if data.is_pinned() else self._pinned(data).copy_(data)
        with torch.cuda.stream(self._upload):
            on_device = staged.to(self.device, non_blocking=True)
        compute = torch.cuda.current_stream(self.device)
        compute.wait_stream(self._upload)
        on_device.record_stream(compute)  # allocated on the upload stream, used on the compute one
        return on_device

    def download(self, data: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """(host tensor, CUDA event or None): the copy has finished once the event has."""
        if not self.cuda:
            return data.contiguous().cpu(), None
        host = self._pinned(data)
        self._download.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self._download):
            host.copy_(data, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self._download)
        data.record_stream(self._download)  # not reused by the compute stream before the copy ends
        return host, done
