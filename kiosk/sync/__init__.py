"""A kiosk connected to the central service: the outbox upload and the replica update.

The package's modules, one job each:

- :mod:`kiosk.sync.client`: the REST client of the service's API (``ServiceApi``, ``SyncError``);
- :mod:`kiosk.sync.rounds`: one sync round (``SyncClient.run_once``: push the outbox, pull the
  replica), what it moved (``SyncReport``), every door's attendance with this kiosk's pending
  changes (``with_pending``);
- :mod:`kiosk.sync.enrollment`: enrolment through the service (``enroll_on_server``);
- :mod:`kiosk.sync.report`: what a kiosk reports of itself with each request (its outbox and
  its model settings: ``model_report``) and the rule the service reads it with;
- :mod:`kiosk.sync.background`: rounds in a thread with a doubling wait after failures
  (``BackgroundSync``) and the link's state (``SyncStatus``, ``LinkState``).

What a round writes goes through the store's modules (:mod:`kiosk.store.outbox`,
:mod:`kiosk.store.replica`); no SQL lives here. The names below are the package's interface.
"""

from kiosk.sync.background import BackgroundSync, LinkState, SyncStatus
from kiosk.sync.client import ServiceApi, SyncError
from kiosk.sync.enrollment import EnrollmentRefused, enroll_on_server, enrollment_refusal
from kiosk.sync.report import model_report
from kiosk.sync.rounds import SyncClient, SyncReport, attach_outbox, with_pending

__all__ = [
    "BackgroundSync", "EnrollmentRefused", "LinkState", "ServiceApi", "SyncClient", "SyncError",
    "SyncReport", "SyncStatus", "attach_outbox", "enroll_on_server", "enrollment_refusal",
    "model_report", "with_pending",
]
