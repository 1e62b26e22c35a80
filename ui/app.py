"""App wiring: models, camera reader, worker and window; ``run_kiosk`` starts the event loop."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QCoreApplication, QObject, QTimer, pyqtSignal
from PyQt5.QtWidgets import QApplication, QMessageBox

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.gallery import Gallery, open_gallery
from kiosk.pipeline import Pipeline
from kiosk.face_encoder import FaceEncoder
from kiosk.stages import Models, load_models
from kiosk.sync import attach_outbox
from ui.i18n import install_translator
from ui.main_window import KioskWindow
from ui.worker import PipelineWorker

log = logging.getLogger(__name__)


class SerialEmbedder:
    """The process's one FaceNet embedder, shared by the pipeline worker and the enrolment
    workers, called by one thread at a time: an OpenVINO infer request or a LiteRT
    interpreter refuses a second call while one runs ("Infer Request is busy", seen when an
    admin enrolled at a running kiosk). Everything but :meth:`embed` is the embedder's own.
    """

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._lock = threading.Lock()

    def embed(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self.embedder.embed(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.embedder, name)


def shared_models(models: Models) -> Models:
    """``models`` with the embedder made safe to share between threads (idempotent)."""
    if isinstance(models.embedder, SerialEmbedder):
        return models
    return dataclasses.replace(models, embedder=SerialEmbedder(models.embedder))


def enrollment_models(models: Models, settings: Settings) -> Models:
    """Models for an enrolment worker: its own Haar gate (a cascade must not be shared
    between threads), the shared landmark predictor and FaceNet (one call at a time when
    ``models`` come from :func:`shared_models`), and with fusion its own dlib encoder (the
    network keeps per-call buffers: not shared with the pipeline's thread)."""
    from kiosk.detect import HaarFaceDetector

    dlib_encoder = None
    if models.dlib_encoder is not None:
        dlib_encoder = models.dlib_encoder.another()
    return Models(HaarFaceDetector(settings.detection), models.landmarks, models.embedder,
                  dlib_encoder)


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
    window = build_early_window(settings, source, event_id)
    window.reader.start()
    models = shared_models(models)
    window.attach_worker(make_worker(settings, models, window.reader, window.event_id),
                         make_encoder_factory(settings, models))
    connect_to_server(window, settings)
    return window


def connect_to_server(window: KioskWindow, settings: Settings) -> None:
    """With ``[server] url`` set: sync in the background and show the service's state."""
    if not settings.server.url:
        return
    from ui.server_link import ServerLink

    window.attach_server_link(ServerLink(settings, window))


def build_early_window(
    settings: Settings, source: str | None = None, event_id: int | None = None,
) -> KioskWindow:
    """The window before any model is loaded: gallery, event and a camera reader (not started).

    It shows the event name and "Starting..." at once; the camera picture appears as soon as
    the reader is started, and recognition joins with :meth:`KioskWindow.attach_worker`.
    """
    gallery = open_gallery(settings)
    if settings.server.url:  # staff check-ins and undos go to the service too
        attach_outbox(gallery.checkins_table)
    purge_spoof_pictures(gallery, settings)
    if event_id is None:
        event_id = gallery.open_event_id()
    reader = LatestFrameReader(settings.camera, source)
    return KioskWindow(settings, reader, None, gallery, event_id, None, source=source)


def make_worker(settings: Settings, models: Models, reader: LatestFrameReader,
                event_id: int | None) -> PipelineWorker:
    """The pipeline worker over ``reader`` (its pipeline is built in the worker thread)."""

    def make_pipeline(chosen_event_id: int | None) -> Pipeline:
        gallery = open_gallery(settings)
        if settings.server.url:  # each check-in is queued for the service in its transaction
            attach_outbox(gallery.checkins_table)
        return Pipeline(settings, models, gallery, chosen_event_id)

    return PipelineWorker(reader, make_pipeline, event_id)


def make_encoder_factory(settings: Settings, models: Models) -> Callable[[], FaceEncoder]:
    """Builds FaceEncoders for enrolment workers over the shared models."""

    def make_encoder() -> FaceEncoder:
        return FaceEncoder(enrollment_models(models, settings), settings)

    return make_encoder


def process_age_s() -> float:
    """Seconds since this process started (from /proc; since this module's import elsewhere)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of proc(5), counted after "pid (comm)"
        with open("/proc/uptime", encoding="ascii") as stream:
            uptime_s = float(stream.read().split()[0])
        return max(0.0, uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED_T


_IMPORTED_T = time.monotonic()


class ModelLoader(QObject):
    """Loads the models in a thread; ``loaded(object)`` or ``failed(str)`` arrive on the GUI
    thread (queued signals).

    TensorFlow and dlib are imported in that thread too: the window and the camera picture
    are up before their native libraries load (several seconds on a small PC).
    """

    loaded = pyqtSignal(object)
    failed = pyqtSignal(str)
    progress = pyqtSignal(str)  # the start-up migration's progress, then what it left

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.thread = threading.Thread(target=self._load, name="model-loader", daemon=True)

    def start(self) -> None:
        """Start loading."""
        self.thread.start()

    def _load(self) -> None:
        try:
            preload_native_libraries(self.settings)
            models = load_models(self.settings)
        except Exception as exc:  # noqa: BLE001 - shown to the user by the window
            log.exception("the face models could not be loaded")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        self._migrate(models)
        self.loaded.emit(models)

    def _migrate(self, models: Models) -> None:
        """Re-embed stored images that lack one of the kiosk's models (after an update), so
        enrolled people are recognised again; what cannot be done is shown, never fatal."""
        from kiosk.reembed import migrate_at_start

        def on_progress(done: int, total: int) -> None:
            self.progress.emit(QCoreApplication.translate(
                "App", "Updating the gallery to the new face model: {done} of {total} images"
            ).format(done=done, total=total))

        try:
            gallery = open_gallery(self.settings)
            try:
                notice = migrate_at_start(gallery, FaceEncoder(models, self.settings), on_progress)
            finally:
                gallery.close()
        except Exception as exc:  # noqa: BLE001 - the kiosk still runs with what it can match
            log.exception("the start-up migration of the gallery failed")
            notice = f"gallery migration failed: {exc}"
        if notice:
            log.warning("%s", notice)
            self.progress.emit(notice)


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


def preload_native_libraries(settings: Settings) -> None:
    """Import dlib, then TensorFlow only if loading FaceNet needs it, first thing in the
    model-loading thread.

    Under X11, importing TensorFlow in the model-loading thread while the GUI thread paints the
    splash screen crashed in the dynamic loader (seen under Xvfb); loading the native libraries
    first, in this order, avoids it. The graph itself still loads behind the splash screen.
    TensorFlow is needed only to convert the graph (the first start) or for the ``tensorflow``
    back-end: the converted files run on LiteRT, without its 500 MB
    (:func:`kiosk.embed.tensorflow_needed`).
    """
    import os

    from kiosk.embed import tensorflow_needed
    from kiosk.model_files import facenet_graph_path

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import dlib  # noqa: F401

    recognition = settings.recognition
    if tensorflow_needed(facenet_graph_path(recognition.facenet_graph), recognition.facenet_backend,
                         recognition.flip_average, recognition.model_cache_dir):
        import tensorflow  # noqa: F401


def run_kiosk(settings: Settings, source: str | None = None, event_id: int | None = None,
              argv: Sequence[str] | None = None, settings_path: Path | None = None) -> int:
    """Start the kiosk GUI and run until the window closes; returns the exit code.

    Order (docs/GUI.md): the window with the event name and "Starting..." first, then the
    camera picture, then recognition when the models have loaded in a thread. Each step is
    logged at INFO with its time since the process started.
    """
    # The window draws with QPainter only. Without this, showing it under X11 loads Mesa's GL
    # and its LLVM, and TensorFlow's own LLVM then crashes in its static initialisers when the
    # models load after the window is up (gdb: _GLOBAL__sub_I_DebugInfoMetadata.cpp).
    os.environ.setdefault("QT_XCB_GL_INTEGRATION", "none")
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    install_translator(settings.ui.language)
    try:
        window = build_early_window(settings, source, event_id)
    except Exception as exc:  # noqa: BLE001 - one clear message instead of a traceback
        log.exception("the kiosk could not start")
        QMessageBox.critical(None, app.translate("App", "Face check-in"),
                             app.translate("App", "The kiosk could not start:") + f"\n{exc}")
        return 1
    if settings_path is not None:
        window.settings_path = Path(settings_path)
    window.resize(1024, 768)
    if settings.ui.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    app.processEvents()
    log.info("window shown %.2f s after process start", process_age_s())
    window.first_frame_shown.connect(
        lambda: log.info("first frame shown %.2f s after process start", process_age_s()))
    window.reader.start()
    window.start()
    connect_to_server(window, settings)
    loader = ModelLoader(settings)

    def on_loaded(models: Models) -> None:
        models = shared_models(models)
        window.attach_worker(make_worker(settings, models, window.reader, window.event_id),
                             make_encoder_factory(settings, models))
        log.info("models ready %.2f s after process start", process_age_s())

    loader.loaded.connect(on_loaded)
    loader.failed.connect(window.on_models_failed)
    loader.progress.connect(window.status_label.setText)
    loader.start()
    _quit_on_signals(app)
    purge_timer = QTimer(app)  # the kiosk runs all day: purge again every hour
    purge_timer.timeout.connect(  # on a task thread: the picture never waits for the database
        lambda: window.tasks.run(lambda: purge_spoof_pictures(window.gallery, settings)))
    purge_timer.start(SPOOF_PURGE_INTERVAL_MS)
    code = app.exec_()
    window.shutdown()
    return int(code)
