"""App wiring: models, camera reader, worker and window; ``run_kiosk`` starts the event loop."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence

from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtWidgets import QApplication, QMessageBox, QSplashScreen
from PyQt5.QtGui import QColor, QPixmap

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.gallery import Gallery, open_gallery
from kiosk.pipeline import Pipeline, current_event_id
from kiosk.recognize import FaceEncoder, Models, load_models
from ui.i18n import install_translator
from ui.main_window import KioskWindow
from ui.worker import PipelineWorker

log = logging.getLogger(__name__)


def enrolment_models(models: Models, settings: Settings) -> Models:
    """Models for an enrolment worker: its own Haar gate (a cascade must not be shared
    between threads), the shared landmark predictor and FaceNet."""
    from kiosk.detect import HaarFaceDetector

    return Models(HaarFaceDetector(settings.detection), models.landmarks, models.embedder)


SPOOF_PURGE_INTERVAL_MS = 3_600_000


def purge_spoof_pictures(gallery: Gallery, settings: Settings) -> None:
    """Delete refused-spoof pictures older than ``[gallery] spoof_retention_days`` (logged)."""
    try:
        removed = gallery.purge_old_spoof_attempts(settings.gallery.spoof_retention_days)
    except Exception as exc:  # noqa: BLE001 - a read-only or full gallery must not stop the kiosk
        log.error("old spoof pictures not purged: %s", exc)
        return
    if removed:
        log.info("purged %d spoof pictures older than %d days", removed,
                 settings.gallery.spoof_retention_days)


def build_window(
    settings: Settings,
    models: Models,
    source: str | None = None,
    event_id: int | None = None,
) -> KioskWindow:
    """Open the gallery, start the camera reader and build the window (worker not started).

    Args:
        settings: all settings.
        models: the loaded models.
        source: camera source overriding ``[camera] source``.
        event_id: the event to check in to; None chooses the event whose window contains now.
    """
    gallery = open_gallery(settings)
    purge_spoof_pictures(gallery, settings)
    if event_id is None:
        event_id = current_event_id(gallery)

    def make_pipeline(chosen_event_id: int | None) -> Pipeline:
        return Pipeline(settings, models, open_gallery(settings), chosen_event_id)

    def make_encoder() -> FaceEncoder:
        return FaceEncoder(enrolment_models(models, settings), settings)

    reader = LatestFrameReader(settings.camera, source)
    reader.start()
    worker = PipelineWorker(reader, make_pipeline, event_id)
    return KioskWindow(settings, reader, worker, gallery, event_id, make_encoder)


def load_models_with_splash(app: QApplication, settings: Settings) -> Models:
    """Load the models in a thread while a splash screen says so (a few seconds)."""
    pixmap = QPixmap(520, 160)
    pixmap.fill(QColor("#263238"))
    splash = QSplashScreen(pixmap)
    splash.showMessage(
        app.translate("App", "Face check-in\nLoading the face models..."),
        Qt.AlignCenter, QColor("white"),
    )
    splash.show()
    box: dict[str, object] = {}

    def load() -> None:
        try:
            box["models"] = load_models(settings)
        except Exception as exc:  # noqa: BLE001 - shown to the user below
            box["error"] = exc

    loader = threading.Thread(target=load, name="model-loader", daemon=True)
    loader.start()
    while loader.is_alive():
        app.processEvents()
        loader.join(0.03)
    splash.close()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["models"]  # type: ignore[return-value]


def _quit_on_signals(app: QApplication) -> QTimer:
    """Ctrl+C and SIGTERM close the window cleanly (threads stopped) instead of killing Qt.

    Python only runs signal handlers between bytecodes, so a light timer lets it in."""
    def on_signal(_signum: int, _frame: object) -> None:
        app.closeAllWindows()
        app.quit()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return timer


def preload_native_libraries() -> None:
    """Import TensorFlow and dlib on the main thread before Qt starts.

    Under X11, importing TensorFlow in the model-loading thread while the GUI thread paints the
    splash screen crashed in the dynamic loader (seen under Xvfb); loading the native libraries
    first, in this order, avoids it. The graph itself still loads behind the splash screen.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import dlib  # noqa: F401
    import tensorflow  # noqa: F401


def run_kiosk(settings: Settings, source: str | None = None, event_id: int | None = None,
              argv: Sequence[str] | None = None) -> int:
    """Start the kiosk GUI and run until the window closes; returns the exit code."""
    if QApplication.instance() is None:
        preload_native_libraries()
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    install_translator(settings.ui.language)
    try:
        models = load_models_with_splash(app, settings)
        window = build_window(settings, models, source, event_id)
    except Exception as exc:  # noqa: BLE001 - one clear message instead of a traceback
        log.exception("the kiosk could not start")
        QMessageBox.critical(None, app.translate("App", "Face check-in"),
                             app.translate("App", "The kiosk could not start:") + f"\n{exc}")
        return 1
    window.resize(1024, 768)
    window.start()
    _quit_on_signals(app)
    purge_timer = QTimer(app)  # the kiosk runs all day: purge again every hour
    purge_timer.timeout.connect(lambda: purge_spoof_pictures(window.gallery, settings))
    purge_timer.start(SPOOF_PURGE_INTERVAL_MS)
    if settings.ui.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    code = app.exec_()
    window.shutdown()
    return int(code)
