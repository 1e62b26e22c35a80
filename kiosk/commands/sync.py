"""CLI of a connected kiosk: ``sync --once`` and ``run --headless --source SRC --event N``.

``run --headless`` extends the GUI's ``run`` (or is ``run`` itself where the GUI is not
installed): the pipeline without a window, a door camera without a screen, logging each
decision. With ``[server] url`` (or ``--server``/``--api-key``) it syncs in the background.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from kiosk.cli import UserError
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
    from kiosk.sync import SyncClient, SyncError

    settings = _server_settings(args, settings)
    if not settings.server.url:
        raise UserError("no server: set [server] url and api_key, or --server and --api-key")
    store = _store(settings)
    client = SyncClient(settings.server, store)
    try:
        report = client.run_once()
    except (SyncError, StoreError) as exc:
        raise UserError(f"{exc}; {client.pending()} check-ins kept in the outbox") from exc
    finally:
        client.close()
        store.close()
    print(report.summary())
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
    from kiosk.fusion import fusion_weights_of
    from kiosk.gallery import Gallery, GalleryError
    from kiosk.pipeline import Pipeline, current_event_id
    from kiosk.recognize import load_models
    from kiosk.sync import BackgroundSync, attach_outbox

    settings = _server_settings(args, settings)
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    source = args.source or settings.camera.source
    syncer = None
    if settings.server.url:
        store = _store(settings)
        store.close()
        syncer = BackgroundSync(settings.server, lambda: _store(settings))
        syncer.start()
    try:
        gallery = Gallery(settings.gallery.db_path, settings.recognition.model_id,
                          settings.gallery.max_images_per_person,
                          settings.gallery.store_face_crops, settings.gallery.busy_timeout_ms,
                          fusion_weights=fusion_weights_of(settings.recognition))
    except GalleryError as exc:
        raise UserError(str(exc)) from exc
    if syncer is not None:
        attach_outbox(gallery.checkins_table)
    try:
        event_id = args.event if args.event is not None else current_event_id(gallery)
        pipeline = Pipeline(settings, load_models(settings), gallery, event_id)
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
        return int(gui_handler(args, settings))

    run.set_defaults(handler=dispatch)
