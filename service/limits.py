"""Every limit of the service in one place (see docs/SECURITY.md for why each is what it is).

The limits of what a door may send that a kiosk also applies before it queues anything (the
operator and reason of a manual check-in or undo) live in :mod:`kiosk.store.checkins`, and the
name rule in :mod:`kiosk.names`: the service imports them, so both sides refuse the same items.
"""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB

MAX_IMAGE_BYTES = 8 * MiB  # one uploaded photo
MAX_IMAGES = 10  # photos per enrolment
MAX_BATCH = 500  # check-ins or undos per request
MAX_ID = 2**63 - 1  # ids are PostgreSQL BIGINTs: larger ones are refused (422), not a 5xx

# The largest body per key role, counted as it is read (chunked or not) and cut there. A door
# uploads check-in batches and identifies one photo; an admin enrols up to MAX_IMAGES photos.
BODY_LIMIT_BYTES = {
    "kiosk": MAX_IMAGE_BYTES + 64 * KiB,
    "admin": MAX_IMAGES * MAX_IMAGE_BYTES + 64 * KiB,
}
BODY_READ_TIMEOUT_S = 10.0  # longest wait for the next piece of a body
BODY_TOTAL_TIMEOUT_S = 60.0  # longest time to receive a whole body
IDLE_CONNECTION_TIMEOUT_S = 5  # keep-alive connections without a request are closed (uvicorn)
HEADER_READ_TIMEOUT_S = 10.0  # a request line and headers not complete by then: connection closed

# Decoding an uploaded photo: its header is read first and a picture larger than this is
# refused before decoding (a 6,300 x 6,300 PNG of 116 KB would take seconds and 1.4 GB); a
# phone's 12-megapixel photo passes.
MAX_DECODE_PIXELS = 16_000_000

# Check-in times a door sends: a valid ISO 8601 time with its offset, not later than the
# service's clock plus the skew, and not older than a door may keep check-ins while offline.
CHECKIN_MAX_AHEAD_S = 10 * 60
CHECKIN_MAX_AGE_S = 7 * 24 * 3600

# Decoding and the models run in processes of their own (service/state.py), never on the
# event loop; when that many requests per process wait already, the answer is 503 with
# Retry-After.
CPU_QUEUE_PER_WORKER = 2
RETRY_AFTER_S = 2
