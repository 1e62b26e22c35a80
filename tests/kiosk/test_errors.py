"""A per-frame error is reported once, then counted, and logged again only now and then."""

from kiosk.errors import RepeatedErrors


def test_first_occurrence_is_new_repeats_are_counted():
    errors = RepeatedErrors(report_every_s=30.0)
    assert errors.note("GalleryError: gone", 0.0) is True
    assert [errors.note("GalleryError: gone", t / 30) for t in range(1, 300)] == [False] * 299
    assert errors.counts["GalleryError: gone"] == 300
    assert errors.note("ValueError: other", 10.0) is True  # another error is news again


def test_repeats_are_due_for_a_log_line_every_period():
    errors = RepeatedErrors(report_every_s=30.0)
    errors.note("boom", 0.0)
    due = [t for t in range(0, 100) if errors.note("boom", float(t)) or errors.due("boom", float(t))]
    assert due == [30, 60, 90]
    errors.clear()
    assert errors.note("boom", 100.0) is True
