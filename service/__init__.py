"""The central service: FastAPI over PostgreSQL (installed with ``pip install -e .[server]``).

- :mod:`service.app`: ``create_app`` puts the routers, the limits and the error answers together;
- :mod:`service.state`: what every request shares (the store pool, the gallery, the CPU pool);
- :mod:`service.guard`: the key checked from the headers before any body is read, bodies
  counted and cut at the role's limit, time-outs for slow bodies;
- :mod:`service.auth`: the caller's key and role as FastAPI dependencies;
- :mod:`service.routes`: one router per resource (people, identify, events, check-ins, sync);
- :mod:`service.store`: the PostgreSQL store and the service's own tables (keys, receipts of
  check-ins, the change log kiosks sync from);
- :mod:`service.commands`: ``serve`` and ``keys`` on the command line.
"""
