"""CLI of the central service: ``serve --database URL [--host] [--port] [--workers N]`` and
``keys create|list|revoke --database URL``.

Registered by ``main.py`` next to the kiosk's commands (the kiosk never imports this package).
Without the ``server`` extra installed (fastapi, uvicorn, psycopg) the commands say how to
install it.
"""

from __future__ import annotations

import argparse
import json

from kiosk.commands.common import UserError
from kiosk.config import Settings
from kiosk.store.base import StoreError

SERVER_EXTRA = "pip install -e '.[server]'"


def _require_server_extra() -> None:
    """UserError naming the extra when fastapi, uvicorn or psycopg is missing."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "psycopg", "multipart")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"the central service needs {', '.join(missing)}, installed with the "
                        f"server extra: {SERVER_EXTRA}")


def open_store(url: str):  # noqa: ANN202 - PostgresStore, imported lazily
    """The service's database, its schema created or migrated; a bad URL or an unreachable
    database as a :class:`UserError`."""
    _require_server_extra()
    from service.store.postgres import PostgresStore

    try:
        return PostgresStore(url)
    except (StoreError, ValueError) as exc:
        raise UserError(str(exc)) from exc


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    _require_server_extra()
    import os

    import uvicorn

    from service.app import DATABASE_VARIABLE, SETTINGS_VARIABLE, create_app
    from service.http_protocol import server_options

    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    options: dict = dict(host=args.host, port=args.port, log_level="info",
                         ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile,
                         proxy_headers=args.behind_proxy,
                         forwarded_allow_ips="127.0.0.1" if args.behind_proxy else None,
                         **server_options())
    open_store(args.database).close()  # creates or migrates the schema once, before any worker
    if args.workers == 1:
        try:
            app = create_app(args.database, settings)
        except (StoreError, ValueError) as exc:
            raise UserError(str(exc)) from exc
        uvicorn.run(app, **options)
        return 0
    os.environ[DATABASE_VARIABLE] = args.database
    if getattr(args, "settings", None):
        os.environ[SETTINGS_VARIABLE] = str(args.settings)
    uvicorn.run("service.app:app_from_environment", factory=True, workers=args.workers,
                **options)
    return 0


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from service.store.keys import create_key

    with open_store(args.database) as store:
        try:
            key_id, key = create_key(store, args.name, args.role)
        except (ValueError, StoreError) as exc:
            raise UserError(str(exc)) from exc
    print(f"key {key_id} ({args.role}, {args.name.strip()}); shown this once only:")
    print(key)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from service.store.keys import list_keys

    with open_store(args.database) as store:
        keys = list_keys(store)
    if args.json:
        print(json.dumps([{"id": k.id, "name": k.name, "role": k.role,
                           "created_at": k.created_at, "revoked_at": k.revoked_at}
                          for k in keys], indent=2))
        return 0
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        print(f"{k.id}\t{k.role}\t{k.name}\t{k.created_at}\t{state}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from service.store.keys import revoke_key

    with open_store(args.database) as store:
        if not revoke_key(store, args.id):
            raise UserError(f"no active key with id {args.id} (see `keys list`)")
    print(f"key {args.id} revoked")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the central service (FastAPI on PostgreSQL)")
    p.add_argument("--database", required=True, metavar="URL", help="postgresql://...")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--ssl-certfile", default=None, help="TLS certificate (PEM)")
    p.add_argument("--ssl-keyfile", default=None, help="TLS private key (PEM)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes serving on the port (each with its own gallery, kept "
                        "current by the database's notifications); default 1")
    p.add_argument("--behind-proxy", action="store_true",
                   help="trust X-Forwarded-For from a reverse proxy on 127.0.0.1")
    p.set_defaults(handler=cmd_serve)

    keys = subparsers.add_parser("keys", help="create, list or revoke the service's API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = keys_sub.add_parser("create", help="a new key, printed once")
    p.add_argument("--database", required=True, metavar="URL")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=("kiosk", "admin"))
    p.set_defaults(handler=cmd_keys_create)
    p = keys_sub.add_parser("list", help="every key (never the key itself)")
    p.add_argument("--database", required=True, metavar="URL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_keys_list)
    p = keys_sub.add_parser("revoke", help="revoke a key at once")
    p.add_argument("--database", required=True, metavar="URL")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_keys_revoke)
