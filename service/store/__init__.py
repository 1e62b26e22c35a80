"""The service's storage: the PostgreSQL implementation of :class:`kiosk.store.base.Store`
(:mod:`service.store.postgres`) and the modules of the tables only the service has: API keys
(:mod:`~service.store.keys`), check-ins received from doors with their receipts
(:mod:`~service.store.receipts`), the change log kiosks sync from (:mod:`~service.store.changes`).
The kiosk's table modules (:mod:`kiosk.store.people` ...) run unchanged over the same store."""
