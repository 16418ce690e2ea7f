"""Who serves a live source's next frame: the model, or a cheaper level of the --fallback chain.

A level whose frames are being dropped (a tenth over 1-2 s, or a third of the first 0.4 s after it
took over) hands the source to the next level for a while; then the level above tries again with
a fresh state. Each retry that falls behind again doubles the wait (up to a minute), so a model
that cannot keep up on this machine costs about half a second of drops a minute, not one every
few seconds. The policy is a pure function of the clock and the source's frame counters, one
`FallbackPolicy` per source.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

FALLBACK_WINDOW_S = 2.0  # drops are judged over this window
FALLBACK_DROP_RATIO = 0.1  # more dropped than this in the window -> the next level
# ... or sooner, judged from when the level took over: after (seconds, at least frames) more than
# (ratio) dropped, so a retry that cannot keep up costs fewer drops; once the level has served a
# whole window this is looser than the rule above, so a short stall in steady state does not trip it
FALLBACK_FAST = (0.4, 8, 1 / 3)
FALLBACK_HOLD_S = (3.0, 60.0)  # how long a level serves before the one above tries again: first, longest
FALLBACK_RETRY_S = 10.0  # a level falling behind this soon after its retry doubles the next hold


@dataclass(frozen=True)
class Handover:
    """A level fell behind and the next one took over (what the session logs and counts)."""

    behind: int  # the level that fell behind
    to: int  # the level that serves now
    dropped: int  # frames dropped in the judged window
    frames: int  # frames that arrived in it
    hold: float  # seconds the new level serves before the one above tries again


class FallbackPolicy:
    """The serving level of one source among `levels` (0 the model, 1.. the fallback chain)."""

    def __init__(self, levels: int) -> None:
        self.levels = levels
        self.level = 0
        self.resets = [False] * levels  # a level taking over again starts from a fresh state
        self.hold_until = 0.0  # while level > 0: when the level above tries again
        self.holds = [FALLBACK_HOLD_S[0]] * levels  # the hold of each level (backs off)
        self.retried_at: list[float | None] = [None] * levels  # when each level last took over again
        self.history: deque[tuple[float, int, int]] = deque()  # (time, frames in, frames dropped)

    def update(self, now: float, frames_in: int, frames_dropped: int) -> Handover | None:
        """Record the source's counters at `now` and move the level if the rules say so; a
        `Handover` when a level fell behind. The serving level is then `self.level`."""
        if self.levels == 1:
            return None
        history = self.history
        history.append((now, frames_in, frames_dropped))
        # The baseline is the newest entry at least a window old: with a model slower than the
        # window per frame, that is the previous frame's (never the current one's own entry).
        while len(history) > 1 and now - history[1][0] >= FALLBACK_WINDOW_S:
            history.popleft()
        t, base_in, base_dropped = history[0]
        window_in, window_dropped = frames_in - base_in, frames_dropped - base_dropped
        fast_s, fast_frames, fast_ratio = FALLBACK_FAST
        behind = (
            now - t >= FALLBACK_WINDOW_S / 2
            and window_in >= 5
            and window_dropped > FALLBACK_DROP_RATIO * window_in
        ) or (now - t >= fast_s and window_in >= fast_frames and window_dropped > fast_ratio * window_in)
        level = self.level
        if behind and level + 1 < self.levels:  # this level cannot keep up: the next one serves
            up = self.retried_at[level]
            first, longest = FALLBACK_HOLD_S
            new = level + 1
            self.holds[new] = (
                min(2 * self.holds[new], longest) if up is not None and now - up < FALLBACK_RETRY_S else first
            )
            self.level, self.hold_until, self.resets[new] = new, now + self.holds[new], True
            history.clear()
            return Handover(level, new, window_dropped, window_in, self.holds[new])
        if level and now >= self.hold_until:  # the hold is over: the level above tries again
            self.level = up = level - 1
            self.resets[up], self.retried_at[up] = True, now
            self.hold_until = now + self.holds[up] if up else 0.0
            history.clear()
        return None
