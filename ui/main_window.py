"""The attendee screen: the live picture, the face box and a large banner.

The window is a view: it draws the reader's newest frame at camera rate (a light QTimer, no
cv2 on this thread) and the worker's results (box, prompt, decision) as they arrive by signal.
Its texts come from :mod:`ui.attendee_text`, the camera's state from :mod:`ui.camera_watch`,
the staff and admin entries from :mod:`ui.admin_menu`; reads of the gallery (the event, the
matrix after a change) run on :class:`ui.tasks.TaskRunner` threads, never on this one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PyQt5.QtCore import Qt, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import QAction, QLabel, QMainWindow, QVBoxLayout, QWidget

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.settings_files import LOCAL_SETTINGS
from kiosk.decision import Decision, Outcome
from kiosk.gallery import Gallery
from ui.admin_menu import AdminMenu
from ui.attendee_text import AMBER, GREEN, NEUTRAL, decision_banner, prompt_banner, \
    state_banner
from ui.banner_label import BannerLabel
from ui.camera_watch import CameraWatch
from ui.event_watch import EventWatch
from ui.i18n import install_translator
from ui.live_picture import LivePicture
from ui.tasks import TaskRunner
from ui.top_bar import TopBar
from ui.video_view import VideoView
from ui.worker import PipelineWorker, WorkerResult, start_worker, stop_worker

if TYPE_CHECKING:
    from ui.server_link import ServerLink, SyncRounds

log = logging.getLogger(__name__)

STATE_POLL_MS = 250  # the camera and the check-in window are looked at this often


class KioskWindow(QMainWindow):
    """The kiosk's main window (attendee screen) with the staff and admin entries.

    Args:
        settings: all settings.
        reader: the started camera reader (the window stops it on close).
        worker: the pipeline worker, not started yet (the window starts and stops it).
        gallery: the staff and admin screens' gallery (the window reads it in :attr:`tasks`).
        event_id: the event people are checked in to (None: recognise only).
        encoder_factory: builds a FaceEncoder for enrolment (runs in enrolment workers).
        source: the camera source (default ``[camera] source``).

    Attributes:
        banner, video: the large message label, the live picture.
        event: the current event (``event_id``, its ``row`` read in the background).
        camera: the camera watch (its ``reader`` is the current reader).
        admin_menu: the Staff button, the Admin menu and their dialogs.
        tasks: the threads that read and write the gallery for the window.
        picture: the live picture (``first_frame_t``, ``display_times``, ``fps()``).
        last_decision, decision_times: the last decision shown; (monotonic time, decision) of
            every decision shown.

    Signals:
        check_in_recorded(object): a decision (:class:`Decision`) was shown.
        closed(): the window closed and every thread stopped.
        first_frame_shown(): the first camera picture is on screen.
        event_loaded(): the event's row was read (after start or a change of event).
    """

    check_in_recorded = pyqtSignal(object)
    closed = pyqtSignal()
    first_frame_shown = pyqtSignal()
    event_loaded = pyqtSignal()

    def __init__(self, settings: Settings, reader: LatestFrameReader,
                 worker: PipelineWorker | None, gallery: Gallery, event_id: int | None = None,
                 encoder_factory: Callable[[], object] | None = None,
                 source: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.worker = worker
        self.gallery = gallery
        self.encoder_factory = encoder_factory
        self.settings_path = LOCAL_SETTINGS  # where the Settings dialog saves
        self.models_error: str | None = None
        self.window_state: tuple[str, str] = ("open", "")
        self.thread: QThread | None = None
        self.server_link: ServerLink | None = None  # a kiosk connected to the service
        self.sync_rounds: SyncRounds | None = None  # takes the service's rounds in
        self.last_decision: Decision | None = None
        self.last_result: WorkerResult | None = None
        self.decision_times: list[tuple[float, Decision]] = []
        self._banner_until, self._state_ticks, self._shut_down = 0.0, 0, False
        self.tasks = TaskRunner(self)
        self.event = EventWatch(gallery, event_id, self.tasks, self)
        self.event.loaded.connect(self.on_event_loaded)
        self.event.failed.connect(self.on_error)
        self.camera = CameraWatch(settings.camera, reader,
                                  source if source is not None else settings.camera.source, self)
        self.camera.reader_replaced.connect(self.on_reader_replaced)
        self.admin_menu = AdminMenu(self)
        self._build()
        self.picture = LivePicture(self.video, lambda: self.camera.reader, self)
        self.picture.first_frame_shown.connect(self.on_first_frame_shown)
        self.state_timer = QTimer(self)
        self.state_timer.setInterval(STATE_POLL_MS)
        self.state_timer.timeout.connect(self.on_state_timer)
        if self.worker is not None:
            self._connect_worker()
        self.retranslate()
        self.event.load()

    def _connect_worker(self) -> None:
        self.worker.result_ready.connect(self.on_result_ready)
        self.worker.error.connect(self.on_error)

    @property
    def reader(self) -> LatestFrameReader:
        return self.camera.reader  # the current one (a missing file is retried with a new one)

    @property
    def models_ready(self) -> bool:
        """Whether recognition runs (the worker is attached)."""
        return self.worker is not None

    # -- layout ------------------------------------------------------------------------------

    def _build(self) -> None:
        central = QWidget(self)
        central.setStyleSheet("background: #111111;")
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.top_bar = TopBar([self.admin_menu.staff_button, self.admin_menu.admin_button],
                              central)
        self.event_label = self.top_bar.event_label
        layout.addWidget(self.top_bar)
        self.video = VideoView(central)
        layout.addWidget(self.video, 1)
        self.banner = BannerLabel(central)
        layout.addWidget(self.banner)
        self.status_label = QLabel(central)
        self.status_label.setStyleSheet("color: #90a4ae; background: #111111; padding: 2px 8px;")
        layout.addWidget(self.status_label)
        self.setCentralWidget(central)
        for key, slot in ((Qt.Key_F11, self.on_fullscreen_toggled), (Qt.Key_Escape, self.showNormal)):
            action = QAction(self)
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(slot)
            self.addAction(action)

    def retranslate(self) -> None:
        """Set every text again (after a language change)."""
        self.setWindowTitle(self.tr("Face check-in"))
        self.admin_menu.retranslate()
        self.top_bar.retranslate()
        self.on_clock_timer()
        self._banner_until = 0.0
        self.update_state_banner()

    # -- the event and the gallery (read on task threads) -------------------------------------

    @property
    def event_id(self) -> int | None:
        """The event people are checked in to (None: recognition only)."""
        return self.event.event_id

    @pyqtSlot()
    def on_event_loaded(self) -> None:
        """The event's row was read: its name and check-in window are shown (and the worker
        told when a first sync chose the event)."""
        if self.worker is not None and self.worker.event_id != self.event_id:
            self.worker.set_event(self.event_id)
        self.top_bar.show_event(self.event.row, self.event.read)
        self.update_state_banner()
        self.event_loaded.emit()

    def set_event(self, event_id: int | None) -> None:
        """Check people in to another event from now on."""
        if self.worker is not None:
            self.worker.set_event(event_id)
        self.event.set_event(event_id)

    @pyqtSlot()
    def on_gallery_changed(self) -> None:
        """People were enrolled, renamed or deleted: the matrices are read again (a task
        thread for this window's copy; the worker re-reads its own)."""
        self.tasks.run(self.gallery.reload, None, self.on_error)
        if self.worker is not None:
            self.worker.request_reload()

    def apply_settings(self, settings: Settings) -> None:
        """The Settings dialog saved: the language and banner time apply now (the camera and
        the thresholds after a restart)."""
        self.settings = settings
        install_translator(settings.ui.language)
        self.retranslate()

    # -- states: start-up, camera, event window ----------------------------------------------

    def update_state_banner(self) -> None:
        """Show the state that outranks prompts: camera problem, closed window, start-up."""
        self.window_state = self.event.window_state()
        if time.monotonic() < self._banner_until:
            return
        problem = self.camera.problem
        self.video.placeholder = problem or self.tr("Starting the camera...")
        face = self.last_result is not None and self.last_result.result.box_xyxy is not None
        banner = state_banner(problem, self.models_error, self.window_state, self.models_ready,
                              face)
        if banner is not None:
            self.banner.show_banner(banner)

    @pyqtSlot()
    def on_state_timer(self) -> None:
        """Every 250 ms: the camera's state (and a missing file retried), the event window;
        every second the clock and the status line."""
        self.camera.check()
        self.update_state_banner()
        self._state_ticks += 1
        if self._state_ticks % (1000 // STATE_POLL_MS) == 0:
            self.on_clock_timer()

    @pyqtSlot()
    def on_first_frame_shown(self) -> None:
        """The picture is there: whatever was wrong with the camera is over."""
        self.camera.picture_arrived()
        self.update_state_banner()
        self.first_frame_shown.emit()

    @pyqtSlot(object)
    def on_reader_replaced(self, reader: LatestFrameReader) -> None:
        """A missing video file was looked for again: the worker reads the new reader."""
        if self.worker is not None:
            self.worker.reader = reader

    def attach_worker(self, worker: PipelineWorker, encoder_factory: Callable[[], object]) -> None:
        """The models are loaded: start recognition (and enable enrolment)."""
        self.worker = worker
        self.encoder_factory = encoder_factory
        self._connect_worker()
        if self.picture.timer.isActive() and not self._shut_down:
            self.thread = start_worker(self.worker, self)
        self.update_state_banner()

    @pyqtSlot(str)
    def on_models_failed(self, message: str) -> None:
        """The models could not be loaded: the picture stays, the banner says so."""
        self.models_error = message
        self.status_label.setText(self.tr("error: {message}").format(message=message))
        self.update_state_banner()

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the display and, when attached, the worker (the reader is already running)."""
        self.camera.restart_clock()
        if self.worker is not None:
            self.thread = start_worker(self.worker, self)
        for timer in (self.picture.timer, self.state_timer):
            timer.start()

    def shutdown(self) -> None:
        """Stop the display, the worker, the tasks, the service link and the reader, in that
        order (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        for timer in (self.picture.timer, self.state_timer):
            timer.stop()
        if self.worker is not None and self.thread is not None and \
                not stop_worker(self.worker, self.thread):
            log.error("the pipeline worker did not stop in time")
        self.tasks.stop()
        if self.server_link is not None:
            self.server_link.stop()
        self.camera.stop()
        self.gallery.close()
        self.closed.emit()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    # -- slots -------------------------------------------------------------------------------

    @pyqtSlot()
    def on_clock_timer(self) -> None:
        """Update the clock and the small status line."""
        self.top_bar.tick()
        text = self.tr("camera: {state} | picture {fps:.0f} fps").format(
            state=self.camera.state_text(), fps=self.picture.fps())
        if self.server_link is not None:
            from ui.server_link import status_text

            text += " | " + status_text(self.sync_rounds.status)
        self.status_label.setText(text)

    def attach_server_link(self, link: ServerLink) -> None:
        """Sync with the service in the background (started here, stopped on close)."""
        from ui.server_link import SyncRounds

        self.server_link = link
        self.sync_rounds = SyncRounds(link, self.event, self.on_gallery_changed, self)
        self.sync_rounds.changed.connect(self.on_clock_timer)
        link.start()
        self.on_clock_timer()

    @pyqtSlot(object)
    def on_result_ready(self, worker_result: WorkerResult) -> None:
        """Draw the box and the prompt or decision of a processed frame."""
        self.last_result = worker_result
        result = worker_result.result
        box = None if result.box_xyxy is None else tuple(int(v) for v in result.box_xyxy)
        if result.decision is not None:
            self.show_decision(result.decision)
        elif time.monotonic() >= self._banner_until and self.camera.problem is None and \
                self.window_state[0] == "open":
            self.banner.show_banner(prompt_banner(result.prompt, box is not None))
        colour = self.banner.colour or GREEN
        self.video.set_box(box, colour if colour != NEUTRAL else AMBER)

    @pyqtSlot(str)
    def on_error(self, message: str) -> None:
        """A frame failed in the worker, or a gallery read: go on, say it in the status line."""
        log.warning("worker: %s", message)
        self.status_label.setText(self.tr("error: {message}").format(message=message))

    def show_decision(self, decision: Decision) -> None:
        """Show a decision for ``banner_hold_s`` and announce it."""
        self.banner.show_banner(decision_banner(decision, self.window_state))
        now = time.monotonic()
        self._banner_until = now + self.settings.ui.banner_hold_s
        self.last_decision = decision
        self.decision_times.append((now, decision))
        if self.server_link is not None and decision.outcome is Outcome.CHECKED_IN:
            self.server_link.sync_now()  # upload it now rather than at the next round
        self.check_in_recorded.emit(decision)

    @pyqtSlot(bool)
    def on_fullscreen_toggled(self, _checked: bool = False) -> None:
        """F11: kiosk full screen on and off."""
        self.showNormal() if self.isFullScreen() else self.showFullScreen()
