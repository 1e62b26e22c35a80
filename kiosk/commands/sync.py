"""CLI of a connected kiosk: ``sync --once``, ``run --headless --source SRC --event N``,
``enroll`` / ``enroll-folder`` through the service, and staff's ``checkins add`` /
``checkins undo`` (through the outbox when the kiosk is connected).

``run --headless`` extends the GUI's ``run`` (or is ``run`` itself where the GUI is not
installed): the pipeline without a window, a door camera without a screen, logging each
decision. With ``[server] url`` (or ``--server``/``--api-key``) it syncs in the background.

``enroll`` and ``enroll-folder`` get ``--server``/``--api-key`` too: with a server configured
they enrol on the service (an admin key is needed) and sync, so the person is recognised at
every door with the server's id; with the service unreachable nothing is enrolled (a person
enrolled only in this kiosk's file would never reach the other doors).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from kiosk.commands.common import UserError
from kiosk.commands.common import enrollment_identity
from kiosk.config import Settings

log = logging.getLogger("kiosk.headless")


def _server_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    changes = {}
    if getattr(args, "server", None):
        changes["url"] = args.server
    if getattr(args, "api_key", None):
        changes["api_key"] = args.api_key
    if not changes:
        return settings
    try:
        return settings.replace("server", **changes)
    except ValueError as exc:
        raise UserError(f"[server] {exc}") from exc


def _store(settings: Settings) -> Any:
    from kiosk.commands.recognition import open_gallery

    gallery = open_gallery(settings)  # creates the default folder, migrates the file
    gallery.close()
    from kiosk.store.sqlite import SQLiteStore

    return SQLiteStore(settings.gallery.db_path, settings.gallery.busy_timeout_ms)


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.store.base import StoreError
    from kiosk.sync import SyncClient, SyncError, model_report

    settings = _server_settings(args, settings)
    if not settings.server.url:
        raise UserError("no server: set [server] url and api_key, or --server and --api-key")
    store = _store(settings)
    client = SyncClient(settings.server, store, model=model_report(settings.recognition))
    try:
        try:
            report = client.run_once()
        except (SyncError, StoreError) as exc:
            raise UserError(f"{exc}; {client.pending()} check-ins kept in the outbox") from exc
        print(report.summary())
        if report.rejected:
            _print_rejected(store)
    finally:
        client.close()
        store.close()
    return 0


def _print_rejected(store: Any, since: str | None = None) -> None:
    """What the service refused for good (kept with its reason), newest first."""
    from kiosk.names import one_line
    from kiosk.store.outbox import Outbox

    for item in Outbox(store).rejected():
        if since is not None and str(item["rejected_at"]) < since:
            break
        print(f"refused by the service: {item['method']} of person {item['person_id']} at "
              f"event {item['event_id']} ({item['at']}): {one_line(str(item['rejection']))}",
              file=sys.stderr)


def _staff_change(args: argparse.Namespace, settings: Settings, change: Any) -> int:
    """A manual check-in or undo (the staff panel's rules: a reason, the service's limits),
    queued in the outbox on a connected kiosk and followed by a sync round."""
    import getpass

    from kiosk.commands.recognition import open_gallery
    from kiosk.store.base import StoreError, now_iso
    from kiosk.sync import SyncClient, SyncError, attach_outbox, model_report

    settings = _server_settings(args, settings)
    reason = (args.reason or "").strip()
    if not reason:
        raise UserError("--reason is required (it is kept in the audit log)")
    operator = args.operator or f"staff:{getpass.getuser()}"
    started = now_iso()
    with open_gallery(settings) as gallery:
        if gallery.event(args.event) is None:
            raise UserError(f"no event with id {args.event} (see `events list`)")
        if settings.server.url:
            attach_outbox(gallery.checkins_table)
        try:
            message = change(gallery, operator, reason)
        except (ValueError, StoreError) as exc:
            raise UserError(f"{exc}; nothing was changed") from exc
    print(message)
    if settings.server.url:
        store = _store(settings)
        client = SyncClient(settings.server, store, model=model_report(settings.recognition))
        try:
            client.run_once()
            _print_rejected(store, started)
        except (SyncError, StoreError) as exc:
            print(f"warning: not uploaded yet, it waits in the outbox ({exc})", file=sys.stderr)
        finally:
            client.close()
            store.close()
    return 0


def cmd_checkins_add(args: argparse.Namespace, settings: Settings) -> int:
    def change(gallery: Any, operator: str, reason: str) -> str:
        if gallery.person(args.person) is None:
            raise ValueError(f"no person with id {args.person} (see `people list`)")
        new, at = gallery.check_in(args.person, args.event, "manual", operator=operator,
                                   reason=reason)
        return (f"person {args.person} checked in to event {args.event} at {at}" if new else
                f"person {args.person} was already checked in to event {args.event} at {at}")

    return _staff_change(args, settings, change)


def cmd_checkins_undo(args: argparse.Namespace, settings: Settings) -> int:
    def change(gallery: Any, operator: str, reason: str) -> str:
        if not gallery.undo_check_in(args.person, args.event, operator, reason):
            raise ValueError(f"person {args.person} is not checked in to event {args.event}")
        return f"check-in of person {args.person} at event {args.event} undone"

    return _staff_change(args, settings, change)


def _client(settings: Settings) -> Any:
    from kiosk.sync import SyncClient, model_report

    store = _store(settings)
    return SyncClient(settings.server, store, model=model_report(settings.recognition))


def _close(client: Any) -> None:
    client.close()
    client.store.close()


def cmd_enroll_on_server(args: argparse.Namespace, settings: Settings) -> int:
    """``enroll`` on a connected kiosk: the photos go to ``POST /api/v1/people``."""
    from kiosk.names import printable
    from kiosk.images import ImageError, read_image
    from kiosk.store.base import StoreError
    from kiosk.sync import EnrollmentRefused, enroll_on_server

    name, external_id = enrollment_identity(args.name, args.external_id)
    images = []
    for image in args.images:  # the same checks as a local enrolment, before any upload
        try:
            read_image(image, max_bytes=settings.recognition.max_photo_bytes,
                       max_pixels=settings.recognition.max_photo_pixels)
            with open(image, "rb") as stream:
                images.append((printable(image), stream.read()))
        except (ImageError, OSError) as exc:
            raise UserError(f"{exc}; nothing was enrolled") from exc
    client = _client(settings)
    try:
        try:
            person_id, report = enroll_on_server(client, name, images, external_id,
                                                args.allow_duplicate)
        except EnrollmentRefused as exc:
            if exc.kind == "lookalike":
                raise UserError(
                    f"{exc}. If {name} is another person, enrol again with --allow-duplicate"
                ) from exc
            raise UserError(str(exc)) from exc
        if report is None:
            print(f"warning: person {person_id} enrolled on the service; this kiosk gets them "
                  "at its next sync", file=sys.stderr)
        if args.event is not None:  # rosters are the kiosk's own
            from kiosk.store.events import Events

            try:
                added = Events(client.store).add_to_roster(args.event, name, external_id,
                                                           actor="cli")
            except (ValueError, StoreError) as exc:
                raise UserError(f"person {person_id} enrolled, but not put on the roster of "
                                f"event {args.event}: {exc}") from exc
            print(f"{'added to' if added else 'already on'} the roster of event {args.event}",
                  file=sys.stderr)
    finally:
        _close(client)
    print(person_id)
    return 0


def events_create_on_server(args: argparse.Namespace, settings: Settings) -> int:
    """``events create`` on a connected kiosk: the event is created on the service (its id is
    the service's), then a sync brings it here."""
    from kiosk.store.base import StoreError
    from kiosk.sync import SyncError

    client = _client(settings)
    try:
        try:
            event_id = client.create_event(args.name, args.opens, args.closes)
        except SyncError as exc:
            raise UserError(f"{exc}; no event was created") from exc
        try:
            client.run_once()
        except (SyncError, StoreError) as exc:
            print(f"warning: event {event_id} created on the service; this kiosk gets it at "
                  f"its next sync ({exc})", file=sys.stderr)
    finally:
        _close(client)
    print(event_id)
    return 0


def enroll_folder_on_server(args: argparse.Namespace, settings: Settings) -> int:
    """``enroll-folder`` on a connected kiosk: one enrolment on the service per external id
    (all its photos, refused together when one looks like someone else)."""
    import json

    from kiosk.enroll_folder import (
        BAD_FILE_NAME, FolderReport, external_id_of, photo_files, roster_name,
    )
    from kiosk.gallery import Gallery
    from kiosk.names import is_text, printable
    from kiosk.images import ImageError, read_image
    from kiosk.sync import EnrollmentRefused, enroll_on_server

    try:
        files = photo_files(args.folder)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if not files:
        raise UserError(f"{args.folder}: no photos (.jpg, .jpeg, .png, .bmp, .webp)")
    report = FolderReport(total=len(files))
    groups: dict[str, list[Any]] = {}
    for path in files:
        if is_text(path.name):
            groups.setdefault(external_id_of(path), []).append(path)
        else:
            report.refused.append((printable(path.name), BAD_FILE_NAME))
    client = _client(settings)
    gallery = Gallery(store=client.store, model_id=settings.recognition.model_id)
    try:
        for external_id, paths in groups.items():
            if gallery.person_by_external_id(external_id) is not None:
                report.refused.extend((p.name, f"{external_id} is already enrolled (add photos "
                                       "in the service's own tools)") for p in paths)
                continue
            images = []
            for path in paths:
                try:
                    read_image(path, max_bytes=settings.recognition.max_photo_bytes,
                               max_pixels=settings.recognition.max_photo_pixels)
                    images.append((path.name, path.read_bytes()))
                except (ImageError, OSError) as exc:
                    report.refused.append((path.name, str(exc)))
            if not images:
                continue
            name = roster_name(gallery, external_id) or external_id
            try:
                person_id, _ = enroll_on_server(client, name, images, external_id)
            except EnrollmentRefused as exc:
                if exc.kind in ("unreachable", "not_admin", "key_refused"):
                    done = len(report.enrolled)
                    raise UserError(f"{exc} ({done} people were enrolled before)") from exc
                report.refused.extend((n, str(exc)) for n, _ in images)
                continue
            report.enrolled.append((external_id, person_id, len(images)))
    finally:
        _close(client)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"{len(report.enrolled)} people enrolled on the service from {report.total} photos; "
          f"{len(report.refused)} photos refused")
    for name, reason in report.refused:
        print(f"  refused {name}: {reason}")
    return 0


def _frames(source: str, settings: Settings, exit_at_end: bool) -> Any:
    """(frame id, t_monotonic, frame) from a video file as fast as it decodes (its own clock),
    or from a live source through the latest-frame reader."""
    from pathlib import Path

    import cv2

    if Path(source).is_file():
        capture = cv2.VideoCapture(source)
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        frame_id = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    if exit_at_end:
                        return
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                frame_id += 1
                yield frame_id, frame_id / fps, frame
        finally:
            capture.release()
        return
    from kiosk.camera import LatestFrameReader

    reader = LatestFrameReader(settings.camera, source)
    reader.start()
    last = 0
    try:
        while True:
            frame = reader.wait_for_frame(last, timeout_s=1.0)
            if frame is None:
                if exit_at_end and not reader.is_alive():
                    return
                continue
            last = frame.frame_id
            yield frame.frame_id, frame.t_monotonic, frame.frame_bgr
    finally:
        reader.stop()


def run_headless(args: argparse.Namespace, settings: Settings) -> int:
    """The pipeline without a window; each decision is logged (and printed)."""
    from kiosk.matching.rule import DlibFirstBand, fusion_weights_of
    from kiosk.gallery import Gallery, GalleryError
    from kiosk.pipeline import Pipeline
    from kiosk.face_encoder import FaceEncoder
    from kiosk.stages import load_models
    from kiosk.reembed import migrate_at_start
    from kiosk.sync import BackgroundSync, attach_outbox, model_report

    settings = _server_settings(args, settings)
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    source = args.source or settings.camera.source
    syncer = None
    if settings.server.url:
        store = _store(settings)
        store.close()
        syncer = BackgroundSync(settings.server, lambda: _store(settings),
                                model=model_report(settings.recognition))
        syncer.start()
    try:
        gallery = Gallery(settings.gallery.db_path, settings.recognition.model_id,
                          settings.gallery.max_images_per_person,
                          settings.gallery.store_face_crops, settings.gallery.busy_timeout_ms,
                          fusion_weights=fusion_weights_of(settings.recognition),
                          dlib_first=DlibFirstBand.from_settings(settings.recognition))
    except GalleryError as exc:
        raise UserError(str(exc)) from exc
    if syncer is not None:
        attach_outbox(gallery.checkins_table)
    try:
        event_id = args.event if args.event is not None else gallery.open_event_id()
        models = load_models(settings)
        # after an update (another FaceNet back-end, fusion on) stored crops are re-embedded
        notice = migrate_at_start(gallery, FaceEncoder(models, settings))
        if notice:
            log.warning("%s", notice)
        pipeline = Pipeline(settings, models, gallery, event_id)
        log.info("headless kiosk on %s, event %s", source, event_id)
        for frame_id, t_monotonic, frame_bgr in _frames(source, settings, args.exit_at_end):
            result = pipeline.process(frame_bgr, t_monotonic, frame_id)
            decision = result.decision
            if decision is not None:
                line = (f"decision frame={frame_id} outcome={decision.outcome.value} "
                        f"person={decision.person_id} name={decision.name} at={decision.at} "
                        f"distance={decision.distance}")
                log.info(line)
                print(line, flush=True)
                if syncer is not None:
                    syncer.sync_now()
    finally:
        gallery.close()
        if syncer is not None:
            syncer.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sync", help="one sync round with the central service")
    p.add_argument("--once", action="store_true", required=True,
                   help="run one round and print what moved")
    p.add_argument("--server", default=None, metavar="URL", help="overrides [server] url")
    p.add_argument("--api-key", default=None, help="overrides [server] api_key")
    p.set_defaults(handler=cmd_sync)

    checkins = subparsers.choices.get("checkins")
    if checkins is not None:
        for action in checkins._actions:  # noqa: SLF001 - argparse keeps sub-commands there
            if isinstance(action, argparse._SubParsersAction):
                for name, handler, what in (
                    ("add", cmd_checkins_add, "check a person in by hand, with a reason"),
                    ("undo", cmd_checkins_undo, "undo a check-in, with a reason"),
                ):
                    p = action.add_parser(name, help=f"{what} (through the service when "
                                                     "connected)")
                    p.add_argument("--event", type=int, required=True)
                    p.add_argument("--person", type=int, required=True, help="the person's id")
                    p.add_argument("--reason", required=True)
                    p.add_argument("--operator", default=None,
                                   help="who does it, for the audit log (default: staff:USER)")
                    p.add_argument("--server", default=None, metavar="URL",
                                   help="overrides [server] url")
                    p.add_argument("--api-key", default=None, help="overrides [server] api_key")
                    p.set_defaults(handler=handler)

    run = subparsers.choices.get("run")
    if run is None:  # no GUI installed: run is headless only
        run = subparsers.add_parser("run", help="run the kiosk pipeline (headless)")
        run.add_argument("--source", default=None)
        run.add_argument("--event", type=int, default=None)
        gui_handler = None
    else:
        gui_handler = run.get_default("handler")
    run.add_argument("--headless", action="store_true", help="no window: log each decision")
    run.add_argument("--exit-at-end", action="store_true",
                     help="stop at the end of a video file (headless)")
    run.add_argument("--server", default=None, metavar="URL", help="overrides [server] url")
    run.add_argument("--api-key", default=None, help="overrides [server] api_key")

    def dispatch(args: argparse.Namespace, settings: Settings) -> int:
        if args.headless or gui_handler is None:
            return run_headless(args, settings)
        return int(gui_handler(args, _server_settings(args, settings)))

    run.set_defaults(handler=dispatch)

    for command, on_server in (("enroll", cmd_enroll_on_server),
                               ("enroll-folder", enroll_folder_on_server)):
        parser = subparsers.choices.get(command)
        if parser is not None:
            _add_server_route(parser, on_server)
    events = subparsers.choices.get("events")
    if events is not None:
        for action in events._actions:  # noqa: SLF001 - argparse keeps sub-commands there
            if isinstance(action, argparse._SubParsersAction) and "create" in action.choices:
                _add_server_route(action.choices["create"], events_create_on_server)


def _add_server_route(parser: argparse.ArgumentParser, on_server: Any) -> None:
    """``--server``/``--api-key`` on a command that enrols: with a server configured it runs
    ``on_server``, else the local command."""
    local = parser.get_default("handler")
    parser.add_argument("--server", default=None, metavar="URL",
                        help="do it on this service (overrides [server] url)")
    parser.add_argument("--api-key", default=None,
                        help="an admin key of the service (overrides [server] api_key)")

    def dispatch(args: argparse.Namespace, settings: Settings) -> int:
        settings = _server_settings(args, settings)
        if settings.server.url:
            return int(on_server(args, settings))
        return int(local(args, settings))

    parser.set_defaults(handler=dispatch)
