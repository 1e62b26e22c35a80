"""Small text helpers shared by the windows (no widgets)."""

from __future__ import annotations

from kiosk.store.base import parse_time


def short_time(iso_time: str | None) -> str:
    """"09:02" from an ISO time (local time), "" when missing or unreadable."""
    if not iso_time:
        return ""
    try:
        return parse_time(iso_time).astimezone().strftime("%H:%M")
    except (ValueError, TypeError):
        return str(iso_time)
