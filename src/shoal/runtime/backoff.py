"""The crash-loop backoff between restarts of an instance, as a kubelet applies it.

The first restart waits ``initial`` seconds, each further one twice as long up to
``maximum``; a run that lasted at least ``reset_after`` seconds starts the series again.
The supervisor asks for the next delay each time the program ends; pure, no clock inside.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CrashBackoff:
    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 600.0
    _next: float = 0.0

    def next_delay(self, ran_for: float) -> float:
        """The delay before the next start, given how long the last run lasted."""
        if ran_for >= self.reset_after or self._next == 0.0:
            self._next = self.initial
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = 0.0
