"""CLI: events, rosters, check-ins and bulk enrolment.

``events create --name NAME [--opens ISO] [--closes ISO]`` / ``events list [--json]``,
``roster import CSV --event ID``, ``checkins list --event ID [--json]``,
``checkins export --event ID --out FILE.xlsx|FILE.csv [--replace]`` and
``enroll-folder DIR [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kiosk.commands.common import UserError
from kiosk.commands.recognition import open_gallery
from kiosk.config import Settings
from kiosk.gallery import Gallery, GalleryError

CHECKIN_FIELDS = ("person_id", "name", "event_id", "at", "method", "distance", "liveness")


def _require_event(gallery: Gallery, event_id: int) -> dict[str, Any]:
    event = gallery.event(event_id)
    if event is None:
        raise UserError(f"no event with id {event_id} (see `events list`)")
    return event


def cmd_events_create(args: argparse.Namespace, settings: Settings) -> int:
    with open_gallery(settings) as gallery:
        try:
            event_id = gallery.create_event(args.name, args.opens, args.closes, actor="cli")
        except (ValueError, GalleryError) as exc:
            raise UserError(str(exc)) from exc
    print(event_id)
    return 0


def cmd_events_list(args: argparse.Namespace, settings: Settings) -> int:

    with open_gallery(settings) as gallery:
        events = gallery.events()
        current = gallery.open_event_id()
    if args.json:
        print(json.dumps([{**e, "current": e["id"] == current} for e in events],
                         ensure_ascii=False, indent=2))
        return 0
    for event in events:
        window = f"{event.get('opens_at') or '-'} .. {event.get('closes_at') or '-'}"
        mark = "*" if event["id"] == current else " "
        print(f"{mark} {event['id']:>4}  {event['name']}  [{window}]")
    return 0


def cmd_roster_import(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.roster import RosterError, import_roster, read_roster_file

    with open_gallery(settings) as gallery:
        _require_event(gallery, args.event)
        try:
            entries = read_roster_file(args.csv)
            count = import_roster(gallery, args.event, entries, actor="cli")
        except (RosterError, ValueError, OSError, GalleryError) as exc:
            raise UserError(f"{exc}; nothing was imported") from exc
    print(f"{count} people on the roster of event {args.event}")
    return 0


def checkin_rows(gallery: Gallery, event_id: int) -> list[dict[str, Any]]:
    """The check-ins of an event as ``checkins list --json`` prints them."""
    return [{key: row.get(key) for key in CHECKIN_FIELDS} for row in gallery.checkins(event_id)]


def cmd_checkins_list(args: argparse.Namespace, settings: Settings) -> int:
    with open_gallery(settings) as gallery:
        _require_event(gallery, args.event)
        rows = checkin_rows(gallery, args.event)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        distance = "" if row["distance"] is None else f"{row['distance']:.3f}"
        print(f"{row['at']}  {row['method']:<6}  {row['person_id']:>5}  {row['name']}  {distance}")
    print(f"{len(rows)} checked in")
    return 0


def cmd_checkins_export(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.roster import ExportRefused, export_event_attendance

    target = args.out or args.csv
    if not target:
        raise UserError("name the file to write: --out FILE.xlsx or FILE.csv")
    settings_files = [args.settings] if getattr(args, "settings", None) else []
    with open_gallery(settings) as gallery:
        _require_event(gallery, args.event)
        try:
            count = export_event_attendance(gallery, args.event, target, "cli", settings_files,
                                            replace=args.replace)
        except FileExistsError as exc:
            raise UserError(f"{exc}: add --replace to overwrite the earlier export") from exc
        except ExportRefused as exc:
            raise UserError(f"{exc}; nothing was written") from exc
        except OSError as exc:
            raise UserError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    print(f"{count} rows written to {target}")
    return 0


def cmd_enroll_folder(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.enroll_folder import enroll_folder, photo_files
    from kiosk.face_encoder import FaceEncoder
    from kiosk.stages import load_models

    folder = Path(args.folder)
    try:
        total = len(photo_files(folder))
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if total == 0:
        raise UserError(f"{folder}: no photos (.jpg, .jpeg, .png, .bmp, .webp)")
    with open_gallery(settings) as gallery:
        encoder = FaceEncoder(load_models(settings), settings)

        def progress(done: int, total: int, name: str) -> None:
            if not args.json:
                width = 30
                filled = round(width * done / total)
                print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:40]:<40}",
                      end="", file=sys.stderr, flush=True)

        report = enroll_folder(
            gallery, encoder, folder, recognition=settings.recognition, actor="cli",
            progress=progress,
        )
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(file=sys.stderr)
    print(f"{len(report.enrolled)} people enrolled from {report.total} photos; "
          f"{len(report.refused)} photos refused")
    for name, reason in report.refused:
        print(f"  refused {name}: {reason}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``events``, ``roster``, ``checkins`` and ``enroll-folder``."""
    events = subparsers.add_parser("events", help="create and list events (meetings)")
    events_sub = events.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    create = events_sub.add_parser("create", help="create an event; prints its id")
    create.add_argument("--name", required=True)
    create.add_argument("--opens", default=None, help="check-in opens (ISO time); default: open")
    create.add_argument("--closes", default=None, help="check-in closes (ISO time)")
    create.set_defaults(handler=cmd_events_create)
    listing = events_sub.add_parser("list", help="list events, newest first (* = current)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_events_list)

    roster = subparsers.add_parser("roster", help="event rosters (who is expected)")
    roster_sub = roster.add_subparsers(dest="roster_command", metavar="ACTION", required=True)
    imp = roster_sub.add_parser("import", help="replace an event's roster with a CSV file")
    imp.add_argument("csv", metavar="FILE",
                     help=".xlsx or CSV with an external_id,name (or 工号,姓名) header row")
    imp.add_argument("--event", type=int, required=True)
    imp.set_defaults(handler=cmd_roster_import)

    checkins = subparsers.add_parser("checkins", help="an event's check-ins")
    checkins_sub = checkins.add_subparsers(dest="checkins_command", metavar="ACTION", required=True)
    clist = checkins_sub.add_parser("list", help="who checked in, in time order")
    clist.add_argument("--event", type=int, required=True)
    clist.add_argument("--json", action="store_true")
    clist.set_defaults(handler=cmd_checkins_list)
    export = checkins_sub.add_parser(
        "export", help="attendance (arrived and missing) as .xlsx or CSV (local times)")
    export.add_argument("--event", type=int, required=True)
    export.add_argument("--out", default=None,
                        help="the file to write: .xlsx (Excel) or .csv (UTF-8 with BOM)")
    export.add_argument("--csv", default=None, help="the CSV file to write (same as --out)")
    export.add_argument("--replace", action="store_true",
                        help="replace an earlier export of the same name")
    export.set_defaults(handler=cmd_checkins_export)

    folder = subparsers.add_parser(
        "enroll-folder", help="enrol a folder of photos named by external id (E001.jpg)")
    folder.add_argument("folder")
    folder.add_argument("--json", action="store_true")
    folder.set_defaults(handler=cmd_enroll_folder)
