"""Small text helpers shared by the windows (no widgets)."""

from __future__ import annotations

import datetime as dt

from kiosk.store.base import parse_time


def short_time(iso_time: str | None, now: dt.datetime | None = None) -> str:
    """"09:02" from an ISO time in local time ("11-24 09:02" on another day), "" when missing.

    Args:
        iso_time: the time (ISO 8601, any offset).
        now: today's reference (default: now), to decide whether the date is needed.
    """
    if not iso_time:
        return ""
    try:
        local = parse_time(iso_time).astimezone()
    except (ValueError, TypeError):
        return str(iso_time)
    today = (now or dt.datetime.now().astimezone()).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")
