"""Errors that repeat on every frame: logged once, then counted, never flooding the log."""

from __future__ import annotations

from dataclasses import dataclass, field

REPORT_EVERY_S = 30.0  # a repeating error is logged again (with its count) at most this often


@dataclass
class RepeatedErrors:
    """Counts errors by their message.

    :meth:`note` says whether an error is new (log it in full and show it) or a repeat (only
    count it; :meth:`due` says when a summary with the count is worth a log line again).

    Attributes:
        counts: how often each message was seen.
    """

    report_every_s: float = REPORT_EVERY_S
    counts: dict[str, int] = field(default_factory=dict)
    _last_report_s: dict[str, float] = field(default_factory=dict)

    def note(self, message: str, now_s: float) -> bool:
        """Count ``message``; True the first time it is seen."""
        count = self.counts.get(message, 0) + 1
        self.counts[message] = count
        if count == 1:
            self._last_report_s[message] = now_s
            return True
        return False

    def due(self, message: str, now_s: float) -> bool:
        """Whether a repeat of ``message`` is due for another log line (then resets the timer)."""
        if now_s - self._last_report_s.get(message, -1e18) >= self.report_every_s:
            self._last_report_s[message] = now_s
            return True
        return False

    def clear(self) -> None:
        """Forget everything (the cause went away)."""
        self.counts.clear()
        self._last_report_s.clear()
