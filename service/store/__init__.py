"""The service's storage: the PostgreSQL implementation of :class:`kiosk.store.base.Store`
(:mod:`service.store.postgres`) and the modules of the tables only the service has: API keys
(:mod:`~service.store.keys`), check-ins received from doors with their receipts
(:mod:`~service.store.receipts`), the change log kiosks sync from (:mod:`~service.store.changes`),
each instance's LISTEN/NOTIFY (:mod:`~service.store.notifications`), and the web console's
tables and queries (:mod:`~service.store.console`, :mod:`~service.store.console_pages`).
The kiosk's table modules (:mod:`kiosk.store.people` ...) run unchanged over the same store."""
