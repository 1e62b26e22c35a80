"""CLI of the console's accounts: ``accounts create|list|disable --database URL``.

``accounts create --name NAME --role admin|staff`` reads the password from standard input when
it is not a terminal (one line), else asks for it twice without echo (``read_secret``, as the
kiosk's own passwords).
"""

from __future__ import annotations

import argparse
import json

from kiosk.commands.common import UserError
from kiosk.commands.operator import read_secret
from kiosk.config import Settings
from kiosk.store.base import StoreError
from service.console.accounts import (
    ROLES, check_new_password, create_account, disable_account, ensure_schema, list_accounts,
)


def _store(url: str):  # noqa: ANN202 - PostgresStore with the console's schema
    from service.console.backend import open_store

    store = open_store(url)
    try:
        ensure_schema(store)
    except (StoreError, ValueError) as exc:
        store.close()
        raise UserError(str(exc)) from exc
    return store


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    password = read_secret("console password", check=check_new_password)
    with _store(args.database) as store:
        try:
            account_id = create_account(store, args.name, args.role, password)
        except (ValueError, StoreError) as exc:
            raise UserError(str(exc)) from exc
    print(f"account {account_id} ({args.role}, {' '.join(args.name.split())}) created")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    with _store(args.database) as store:
        accounts = list_accounts(store)
    if args.json:
        print(json.dumps([{"id": a.id, "name": a.name, "role": a.role,
                           "created_at": a.created_at, "disabled_at": a.disabled_at}
                          for a in accounts], indent=2, ensure_ascii=False))
        return 0
    for a in accounts:
        state = f"disabled {a.disabled_at}" if a.disabled_at else "active"
        print(f"{a.id}\t{a.role}\t{a.name}\t{a.created_at}\t{state}")
    return 0


def cmd_disable(args: argparse.Namespace, settings: Settings) -> int:
    with _store(args.database) as store:
        try:
            done = disable_account(store, args.name)
        except (ValueError, StoreError) as exc:
            raise UserError(str(exc)) from exc
    if not done:
        raise UserError(f"no active account named {args.name!r} (see `accounts list`)")
    print(f"account {args.name} disabled; its sessions ended")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("accounts", help="web console accounts (admin or staff)")
    sub = p.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create an account (password from stdin or asked)")
    create.add_argument("--database", required=True, metavar="URL", help="postgresql://...")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.set_defaults(handler=cmd_create)
    listing = sub.add_parser("list", help="list the accounts")
    listing.add_argument("--database", required=True, metavar="URL")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)
    disable = sub.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("--database", required=True, metavar="URL")
    disable.add_argument("--name", required=True)
    disable.set_defaults(handler=cmd_disable)
