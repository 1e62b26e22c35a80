"""Start the kiosk on a video file, enrol its person from one frame, wait for the check-in,
save screenshots of the attendee screen, the enrolment dialog and the staff panel, and print
the timing figures (see docs/GUI.md). With ``--states``: the start-up, no-camera and
closed-event screens instead (no models needed).

Run it under a display, e.g. ``scripts/screenshot.sh`` (Xvfb) or::

    xvfb-run -a -s "-screen 0 1280x800x24" python scripts/screenshot.py --out docs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MAX_PNG_BYTES = 300_000


def default_clip() -> Path:
    data = Path(os.environ.get("KIOSK_TEST_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    return data / "clips" / "live_selfie_blinks.mp4"


def pump(app, seconds: float, until=None) -> bool:
    """Run the event loop for up to ``seconds``; True when ``until()`` became true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.005)
    return until is None


def save_png(widget, path: Path) -> int:
    """Grab a widget to a PNG under MAX_PNG_BYTES (scaled down if needed); returns its size."""
    from PyQt5.QtCore import Qt

    pixmap = widget.grab()
    while True:
        pixmap.save(str(path), "PNG", 9)
        size = path.stat().st_size
        if size <= MAX_PNG_BYTES or pixmap.width() < 400:
            return size
        pixmap = pixmap.scaledToWidth(int(pixmap.width() * 0.85), Qt.SmoothTransformation)


def state_screens(args) -> int:
    """startup*.png (event name, "Starting...", the first picture), nocamera*.png (USB camera
    57, absent) and closed*.png (the event's check-in window closed 5 minutes ago)."""
    import datetime as dt

    from PyQt5.QtWidgets import QApplication

    from kiosk.config import Settings
    from ui.app import build_early_window, open_gallery
    from ui.i18n import install_translator

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-shot-"))
    settings = Settings().replace("gallery", db_path=str(workdir / "faces.sqlite"))
    settings = settings.replace("camera", source=args.source, loop_file=True)
    settings = settings.replace("ui", language=args.language)
    install_translator(args.language)
    gallery = open_gallery(settings)
    open_id = gallery.create_event("项目周会 Weekly project meeting", actor="screenshot")
    now = dt.datetime.now().astimezone()
    closed_id = gallery.create_event("晨会 Morning briefing",
                                     (now - dt.timedelta(hours=1)).isoformat(),
                                     (now - dt.timedelta(minutes=5)).isoformat(),
                                     actor="screenshot")
    gallery.close()
    sizes = {}
    for name, source, event_id, wait_s in (("startup", args.source, open_id, 1.0),
                                           ("nocamera", "57", open_id, 4.0),
                                           ("closed", args.source, closed_id, 1.0)):
        window = build_early_window(settings, source, event_id)
        window.resize(1024, 720)
        window.show()
        window.reader.start()
        window.start()
        pump(app, wait_s)
        sizes[name] = save_png(window, out / f"{name}{args.suffix}.png")
        print(f"{name}: {window.banner.text()}")
        window.close()
    print(json.dumps(sizes))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(default_clip()), help="video file")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "docs"), help="folder for the PNGs")
    parser.add_argument("--enroll-frame", type=int, default=15, help="frame index to enrol from")
    parser.add_argument("--language", default="en", help="en or zh_CN")
    parser.add_argument("--suffix", default="", help="added to the PNG names (e.g. _zh)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for check-in")
    parser.add_argument("--no-screenshots", action="store_true", help="only measure")
    parser.add_argument("--states", action="store_true",
                        help="the start-up, no-camera and closed-event screens only")
    args = parser.parse_args()
    if args.states:
        return state_screens(args)

    import cv2
    from PyQt5.QtWidgets import QApplication

    from kiosk.config import Settings
    from kiosk.face_encoder import FaceEncoder
    from kiosk.stages import load_models
    from kiosk.roster import RosterEntry, import_roster
    from ui.app import build_window, open_gallery
    from ui.i18n import install_translator

    source = Path(args.source)
    if not source.is_file():
        print(f"error: {source}: no such video", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-shot-"))
    settings = Settings()
    settings = settings.replace("gallery", db_path=str(workdir / "faces.sqlite"))
    settings = settings.replace("camera", source=str(source), loop_file=True, pace_file=True)
    settings = settings.replace("ui", language=args.language)
    install_translator(args.language)

    t0 = time.monotonic()
    models = load_models(settings)
    load_s = time.monotonic() - t0
    capture = cv2.VideoCapture(str(source))
    capture.set(cv2.CAP_PROP_POS_FRAMES, args.enroll_frame)
    ok, frame = capture.read()
    capture.release()
    if not ok:
        print("error: cannot read the enrolment frame", file=sys.stderr)
        return 1
    encoder = FaceEncoder(models, settings)
    sample = encoder.encode_photo(frame, "enrolment frame")
    gallery = open_gallery(settings)
    person_id = gallery.add_person("Li Wei 李伟", [sample.embeddings], [sample.crop_jpeg()],
                                   external_id="E001", actor="screenshot")
    other = gallery.add_person("王芳 Wang Fang", [{model: -vector for model, vector in sample.embeddings.items()}], external_id="E002",
                               actor="screenshot")
    event_id = gallery.create_event("项目周会 Weekly project meeting", actor="screenshot")
    import_roster(gallery, event_id, [
        RosterEntry("E001", "Li Wei 李伟"), RosterEntry("E002", "王芳 Wang Fang"),
        RosterEntry("E003", "陈静 Chen Jing"), RosterEntry("E004", "Maria Rossi"),
    ], actor="screenshot")
    gallery.close()

    window = build_window(settings, models, None, event_id)
    window.resize(1024, 720)
    window.show()
    window.start()
    decided = pump(app, args.timeout, lambda: window.last_decision is not None)
    figures: dict[str, object] = {"models_load_s": round(load_s, 2), "source": source.name}
    picture = window.picture
    if decided and picture.first_frame_t is not None:
        t_decision, decision = window.decision_times[0]
        figures.update({
            "decision": decision.outcome.value,
            "first_frame_to_check_in_s": round(t_decision - picture.first_frame_t, 2),
            "decided_frame_video_s": round(window.last_result.result.frame_id / 30.0, 2)
            if window.last_result else None,
        })
    shown = list(picture.display_times)
    if len(shown) > 1:
        figures["display_fps_while_worker_runs"] = round((len(shown) - 1) / (shown[-1] - shown[0]), 1)
    elapsed = time.monotonic() - (picture.first_frame_t or time.monotonic())
    figures["worker_frames_per_s"] = round(window.worker.frames_processed / max(elapsed, 1e-6), 1)
    figures["camera_fps"] = round(window.reader.stats().fps, 1)
    pump(app, 0.6)
    if not args.no_screenshots:
        figures["attendee_png_bytes"] = save_png(window, out / f"attendee{args.suffix}.png")

        from ui.staff_panel import StaffPanelWidget

        panel = StaffPanelWidget(window.gallery, event_id, operator="screenshot")
        checked_in: list[object] = []  # the panel checks in on a task thread
        panel.manual_check_in(other, "face not recognised (scarf)", checked_in.append)
        pump(app, 10.0, lambda: bool(checked_in))
        panel.resize(900, 560)
        panel.show()
        pump(app, 0.5)
        figures["staff_png_bytes"] = save_png(panel, out / f"staff{args.suffix}.png")
        panel.close()

        from ui.enroll_dialog import EnrollDialog

        dialog = EnrollDialog(settings, window.gallery, window.encoder_factory, window.reader,
                              parent=window)
        dialog.name_edit.setText("Li Wei 李伟")
        dialog.external_id_edit.setText("E001")
        dialog.show()
        dialog.on_capture_clicked()
        pump(app, 20.0, lambda: len(dialog.samples) >= 3 or dialog.capture_outcome is not None)
        pump(app, 0.4)
        figures["enroll_png_bytes"] = save_png(dialog, out / f"enrol{args.suffix}.png")
        dialog.reject()
    window.close()
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    return 0 if decided else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: TensorFlow and Qt free in a clashing order
