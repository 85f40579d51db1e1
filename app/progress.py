"""A small stage-aware progress bar on stderr (silent when stderr is not a terminal and in CI)."""
from __future__ import annotations

import os
import sys
import time


class ProgressBar:
    def __init__(self, enabled: bool = True, width: int = 30) -> None:
        self.enabled = enabled and sys.stderr.isatty() and not os.environ.get("CI")
        self.width = width
        self.t0 = time.monotonic()
        self.last = 0.0
        self.stage = ""

    def update(self, stage: str, frac: float) -> None:
        now = time.monotonic()
        if not self.enabled or (stage == self.stage and now - self.last < 0.1 and frac < 1.0):
            return
        if stage != self.stage and self.stage:
            sys.stderr.write("\n")
        self.stage, self.last = stage, now
        n = int(self.width * min(max(frac, 0.0), 1.0))
        sys.stderr.write(f"\r{stage:<8} [{'#' * n}{'.' * (self.width - n)}] {frac * 100:5.1f}%  "
                         f"{now - self.t0:6.1f} s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.stage:
            sys.stderr.write("\n")
