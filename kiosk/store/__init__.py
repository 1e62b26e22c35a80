"""Storage: a small store interface (:mod:`kiosk.store.base`), the kiosk's SQLite file
(:mod:`kiosk.store.sqlite`), and the table modules over any store: people and faces, events and
rosters, check-ins and spoof attempts, key/values. :mod:`kiosk.gallery` puts them together with
the in-memory matching index."""

from kiosk.store.base import Store, StoreError, Transaction, now_iso, parse_time

__all__ = ["Store", "StoreError", "Transaction", "now_iso", "parse_time"]
