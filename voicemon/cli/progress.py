"""A one-line terminal progress bar (the CLI's; library code reports progress by callback)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """A one-line progress bar on stderr (silent when stderr is not a terminal unless forced)."""

    def __init__(self, enabled: bool, width: int = 28) -> None:
        self.enabled = enabled
        self.width = width
        self._last = 0.0

    def update(self, prefix: str, fraction: float, phase: str, force: bool = False) -> None:
        """Redraw the bar (at most every 0.1 s unless ``force`` or done)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and fraction < 1.0:
            return
        self._last = now
        filled = int(round(self.width * max(0.0, min(1.0, fraction))))
        bar = "█" * filled + "░" * (self.width - filled)
        sys.stderr.write(f"\r{prefix} {bar} {fraction * 100:5.1f}% {phase:<13}")
        sys.stderr.flush()

    def done(self) -> None:
        """Clear the bar's line."""
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
