"""The attendee screen: the live picture, the face box and a large banner.

The window is a view: it draws the reader's newest frame at camera rate (a light QTimer, no
cv2 on this thread) and the worker's results (box, prompt, decision) as they arrive by signal.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt5.QtCore import QDateTime, Qt, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QFont, QFontMetrics, QKeySequence
from PyQt5.QtWidgets import (
    QAction, QHBoxLayout, QLabel, QMainWindow, QMenu, QMessageBox, QSizePolicy, QToolButton,
    QVBoxLayout, QWidget,
)

from kiosk.camera import CameraState, LatestFrameReader
from kiosk.capture import SourceKind, parse_source
from kiosk.config import LOCAL_SETTINGS, Settings
from kiosk.decision import window_state
from kiosk.gallery import Gallery
from kiosk.decision import Decision, Outcome
from kiosk.pipeline import Prompt
from ui.text import short_time
from ui.video_view import VideoView
from ui.worker import PipelineWorker, WorkerResult, start_worker, stop_worker

if TYPE_CHECKING:
    from kiosk.sync import SyncStatus
    from ui.server_link import ServerLink

log = logging.getLogger(__name__)

DISPLAY_POLL_MS = 10  # the display timer looks for a new camera frame this often
GREEN, AMBER, RED, NEUTRAL = "#1b5e20", "#e69500", "#b71c1c", "#263238"


def event_window_state(event: dict | None, now_s: float | None = None) -> tuple[str, str]:
    """Where now lies in an event's check-in window (the rule of :mod:`kiosk.decision`):
    ("open" | "before" | "closed", the local short time it opens or closed)."""
    if event is None:
        return "open", ""
    try:
        state, at = window_state(event, time.time() if now_s is None else now_s)
    except ValueError:
        return "open", ""
    return state, short_time(at)


CAMERA_PROBLEM_AFTER_S = 3.0  # no picture this long after start or a loss: show the camera state
FILE_RETRY_S = 5.0  # a missing video file is looked for again this often
BANNER_MIN_POINT_SIZE = 18


ADMIN_SESSION_S = 300.0  # an admin unlock ends this long after the last admin action


class KioskWindow(QMainWindow):
    """The kiosk's main window (attendee screen) with the staff and admin entries.

    Args:
        settings: all settings.
        reader: the started camera reader (the window stops it on close).
        worker: the pipeline worker, not started yet (the window starts and stops it).
        gallery: a gallery connection for the GUI thread (staff and admin screens).
        event_id: the event people are checked in to (None: recognise only).
        encoder_factory: builds a FaceEncoder for enrolment (runs in enrolment workers).

    Attributes:
        banner: the large message label.
        video: the live picture.
        last_decision: the last decision shown.
        display_times: monotonic times of the frames shown (the last 300).
        first_frame_t: monotonic time the first frame was shown.
        decision_times: (monotonic time, decision) of every decision shown.

    Signals:
        check_in_recorded(object): a decision (:class:`Decision`) was shown.
        closed(): the window closed and every thread stopped.
    """

    check_in_recorded = pyqtSignal(object)
    closed = pyqtSignal()
    first_frame_shown = pyqtSignal()

    def __init__(
        self,
        settings: Settings,
        reader: LatestFrameReader,
        worker: PipelineWorker | None,
        gallery: Gallery,
        event_id: int | None = None,
        encoder_factory: Callable[[], object] | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.reader = reader
        self.worker = worker
        self.source = source if source is not None else settings.camera.source
        self.models_error: str | None = None
        self.camera_problem: str | None = None
        self._camera_problem_logged: str | None = None
        self._started_t = time.monotonic()
        self._file_retry_t = 0.0
        self.window_state: tuple[str, str] = ("open", "")
        self.settings_path = LOCAL_SETTINGS  # where the Settings dialog saves
        self.gallery = gallery
        self.event_id = event_id
        self.encoder_factory = encoder_factory
        self.thread: QThread | None = None
        self.last_decision: Decision | None = None
        self.last_result: WorkerResult | None = None
        self.display_times: collections.deque[float] = collections.deque(maxlen=300)
        self.first_frame_t: float | None = None
        self.decision_times: list[tuple[float, Decision]] = []
        self.errors: list[str] = []
        self._banner_until = 0.0
        self._last_shown_id = 0
        self._shut_down = False
        self._admin_until_s = -1.0  # monotonic time the admin's unlock ends
        self._staff_until_s = -1.0  # monotonic time the staff unlock ends
        self.server_link: ServerLink | None = None  # a kiosk connected to the service
        self._build()
        self.display_timer = QTimer(self)
        self.display_timer.setInterval(DISPLAY_POLL_MS)
        self.display_timer.timeout.connect(self.on_display_timer)
        self.clock_timer = QTimer(self)
        self.clock_timer.setInterval(1000)
        self.clock_timer.timeout.connect(self.on_clock_timer)
        self.state_timer = QTimer(self)
        self.state_timer.setInterval(250)
        self.state_timer.timeout.connect(self.on_state_timer)
        if self.worker is not None:
            self._connect_worker()
        self.retranslate()

    def _connect_worker(self) -> None:
        self.worker.result_ready.connect(self.on_result_ready)
        self.worker.error.connect(self.on_error)

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

        top = QWidget(central)
        top.setStyleSheet("background: #263238; color: white;")
        top_layout = QHBoxLayout(top)
        top_layout.setContentsMargins(16, 8, 16, 8)
        self.event_label = QLabel(top)
        self.event_label.setFont(QFont(self.font().family(), 18, QFont.Bold))
        self.clock_label = QLabel(top)
        self.clock_label.setFont(QFont(self.font().family(), 18))
        self.staff_button = QToolButton(top)
        self.admin_button = QToolButton(top)
        self.admin_button.setPopupMode(QToolButton.InstantPopup)
        for button in (self.staff_button, self.admin_button):
            button.setStyleSheet("QToolButton { color: white; background: #37474f; padding: 6px 14px;"
                                 " border-radius: 4px; font-size: 14pt; }")
        self.admin_menu = QMenu(self)
        self.enroll_action = QAction(self)
        self.people_action = QAction(self)
        self.folder_action = QAction(self)
        self.events_action = QAction(self)
        self.settings_action = QAction(self)
        for action in (self.enroll_action, self.people_action, self.folder_action,
                       self.events_action, self.settings_action):
            self.admin_menu.addAction(action)
        self.admin_button.setMenu(self.admin_menu)
        self.enroll_action.triggered.connect(self.on_enroll_triggered)
        self.people_action.triggered.connect(self.on_people_triggered)
        self.folder_action.triggered.connect(self.on_folder_triggered)
        self.events_action.triggered.connect(self.on_events_triggered)
        self.settings_action.triggered.connect(self.on_settings_triggered)
        self.staff_button.clicked.connect(self.on_staff_clicked)
        top_layout.addWidget(self.event_label, 1)
        top_layout.addWidget(self.clock_label)
        top_layout.addSpacing(16)
        top_layout.addWidget(self.staff_button)
        top_layout.addWidget(self.admin_button)
        layout.addWidget(top)

        self.video = VideoView(central)
        layout.addWidget(self.video, 1)

        self.banner = QLabel(central)
        self.banner.setAlignment(Qt.AlignCenter)
        self.banner.setWordWrap(True)
        self.banner.setMinimumHeight(120)
        self.banner.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Minimum)
        self.banner.setFont(QFont(self.font().family(), 34, QFont.Bold))
        layout.addWidget(self.banner)

        self.status_label = QLabel(central)
        self.status_label.setStyleSheet("color: #90a4ae; background: #111111; padding: 2px 8px;")
        layout.addWidget(self.status_label)
        self.setCentralWidget(central)

        fullscreen = QAction(self)
        fullscreen.setShortcut(QKeySequence(Qt.Key_F11))
        fullscreen.triggered.connect(self.on_fullscreen_toggled)
        self.addAction(fullscreen)
        leave = QAction(self)
        leave.setShortcut(QKeySequence(Qt.Key_Escape))
        leave.triggered.connect(self.showNormal)
        self.addAction(leave)

    def retranslate(self) -> None:
        """Set every text again (after a language change)."""
        self.setWindowTitle(self.tr("Face check-in"))
        self.staff_button.setText(self.tr("Staff"))
        self.admin_button.setText(self.tr("Admin"))
        self.enroll_action.setText(self.tr("Enrol a person..."))
        self.people_action.setText(self.tr("People..."))
        self.folder_action.setText(self.tr("Enrol a folder of photos..."))
        self.events_action.setText(self.tr("Events..."))
        self.settings_action.setText(self.tr("Settings..."))
        self.video.placeholder = self.tr("Starting the camera...")
        self._show_event_name()
        self.on_clock_timer()
        self._banner_until = 0.0
        self.update_state_banner()

    def _event_row(self) -> dict | None:
        return self.gallery.event(self.event_id) if self.event_id is not None else None

    def _show_event_name(self) -> None:
        event = self.gallery.event(self.event_id) if self.event_id is not None else None
        if event is None:
            self.event_label.setText(self.tr("No event open - recognition only"))
        else:
            self.event_label.setText(event["name"])

    def _set_banner(self, text: str, colour: str) -> None:
        if self.banner.text() == text and self.banner.property("colour") == colour:
            return
        self.banner.setText(text)
        self.banner.setProperty("colour", colour)
        self.banner.setStyleSheet(f"background: {colour}; color: white; padding: 12px;")
        self._fit_banner_font()

    def _fit_banner_font(self) -> None:
        """Shrink the banner's font until its text fits one line (down to a minimum size), so
        "Welcome, NAME - checked in 09:02" keeps its time on the line at 1024 px."""
        width = max(200, self.banner.width() - 32)
        font = QFont(self.font().family(), 34, QFont.Bold)
        while font.pointSize() > BANNER_MIN_POINT_SIZE and \
                QFontMetrics(font).horizontalAdvance(self.banner.text()) > width:
            font.setPointSize(font.pointSize() - 2)
        self.banner.setFont(font)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_banner_font()

    # -- states: start-up, camera, event window ----------------------------------------------

    def camera_state_text(self, state: CameraState) -> str:
        """The camera state in the user's language (status line)."""
        return {
            CameraState.CONNECTING: self.tr("connecting"),
            CameraState.LIVE: self.tr("live"),
            CameraState.LOST: self.tr("lost"),
            CameraState.RECONNECTING: self.tr("reconnecting"),
            CameraState.STOPPED: self.tr("stopped"),
        }[state]

    def find_camera_problem(self) -> str | None:
        """What is wrong with the camera, as the attendee screen says it; None when fine.

        No picture for ``CAMERA_PROBLEM_AFTER_S`` (since start or since the last frame), a
        missing video file, or the end of a video file.
        """
        stats = self.reader.stats()
        try:
            source = parse_source(self.source)
        except ValueError:
            return self.tr("Camera source not valid: {source} - check [camera] source in "
                           "settings").format(source=self.source)
        if stats.ended:
            return self.tr("The video file has ended: {path}").format(path=source.location)
        fresh = stats.newest_age_s is not None and stats.newest_age_s < CAMERA_PROBLEM_AFTER_S
        if stats.state is CameraState.LIVE and fresh:
            return None
        waited = time.monotonic() - self._started_t
        if stats.state is not CameraState.STOPPED and waited < CAMERA_PROBLEM_AFTER_S:
            return None
        if source.kind is SourceKind.FILE:
            if not Path(source.location).exists():
                return self.tr("Video file not found: {path} - check [camera] source in "
                               "settings").format(path=source.location)
            return self.tr("Video file cannot be read: {path}").format(path=source.location)
        if source.kind is SourceKind.DEVICE:
            device = f"/dev/video{source.location}"
            if not Path(device).exists():
                return self.tr("Camera not found: {device} - check the cable or [camera] source "
                               "in settings").format(device=device)
            return self.tr("Camera {device} cannot be opened - is another program using it?"
                           ).format(device=device)
        return self.tr("No picture from the camera stream {url} - check the network and "
                       "[camera] source in settings").format(url=source.display_name.split(" ", 1)[-1])

    def update_state_banner(self) -> None:
        """Show the state that outranks prompts: camera problem, closed window, start-up."""
        if time.monotonic() < self._banner_until:
            return
        problem = self.camera_problem
        if problem is not None:
            self.video.placeholder = problem
            self._set_banner(problem, RED)
            return
        self.video.placeholder = self.tr("Starting the camera...")
        if self.models_error is not None:
            self._set_banner(self.tr("Face recognition could not start - please see staff"), RED)
            return
        state, at = self.window_state = event_window_state(self._event_row())
        if state == "closed":
            self._set_banner(self.tr("Check-in closed (closed at {time})").format(time=at), NEUTRAL)
            return
        if state == "before":
            self._set_banner(self.tr("Check-in opens at {time}").format(time=at), NEUTRAL)
            return
        if not self.models_ready:
            self._set_banner(self.tr("Starting... face recognition is loading"), NEUTRAL)
            return
        if self.last_result is None or self.last_result.result.box_xyxy is None:
            self._set_banner(self.tr("Please look at the camera to check in"), NEUTRAL)

    @pyqtSlot()
    def on_state_timer(self) -> None:
        """Every 250 ms: camera state (logged when it changes), retry of a missing file."""
        problem = self.find_camera_problem()
        if problem != self._camera_problem_logged:
            if problem is not None:
                log.warning("camera: %s", problem)
            elif self._camera_problem_logged is not None:
                log.info("camera: picture back")
            self._camera_problem_logged = problem
        self.camera_problem = problem
        self._retry_missing_file()
        self.update_state_banner()

    def _retry_missing_file(self) -> None:
        """The reader gives up on a missing video file: look for it again every few seconds."""
        if self.reader.state is not CameraState.STOPPED or self.reader.stats().ended:
            return
        now = time.monotonic()
        if now < self._file_retry_t or self._shut_down:
            return
        self._file_retry_t = now + FILE_RETRY_S
        old = self.reader
        new = LatestFrameReader(self.settings.camera, self.source)
        new.start()
        self.reader = new
        if self.worker is not None:
            self.worker.reader = new
        old.stop()

    def attach_worker(self, worker: PipelineWorker, encoder_factory: Callable[[], object]) -> None:
        """The models are loaded: start recognition (and enable enrolment)."""
        self.worker = worker
        self.encoder_factory = encoder_factory
        self._connect_worker()
        if self.display_timer.isActive() and not self._shut_down:
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
        self._started_t = time.monotonic()
        if self.worker is not None:
            self.thread = start_worker(self.worker, self)
        self.display_timer.start()
        self.clock_timer.start()
        self.state_timer.start()

    def shutdown(self) -> None:
        """Stop the display, the worker, its thread and the reader, in that order (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.display_timer.stop()
        self.clock_timer.stop()
        self.state_timer.stop()
        if self.worker is not None and self.thread is not None and not stop_worker(self.worker, self.thread):
            log.error("the pipeline worker did not stop in time")
        if self.server_link is not None:
            self.server_link.stop()
        self.reader.stop()
        self.gallery.close()
        self.closed.emit()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    def set_event(self, event_id: int | None) -> None:
        """Check people in to another event from now on."""
        self.event_id = event_id
        if self.worker is not None:
            self.worker.set_event(event_id)
        self._show_event_name()
        self.update_state_banner()

    # -- slots -------------------------------------------------------------------------------

    @pyqtSlot()
    def on_display_timer(self) -> None:
        """Show the reader's newest frame if it is new (camera rate, whatever the worker does)."""
        frame = self.reader.latest()
        if frame is None or frame.frame_id == self._last_shown_id:
            return
        self._last_shown_id = frame.frame_id
        self.video.set_frame(frame.frame_bgr)
        now = time.monotonic()
        if self.first_frame_t is None:
            self.first_frame_t = now
            self.camera_problem = None
            self.update_state_banner()
            self.first_frame_shown.emit()
        self.display_times.append(now)

    @pyqtSlot()
    def on_clock_timer(self) -> None:
        """Update the clock and the small status line."""
        self.clock_label.setText(QDateTime.currentDateTime().toString("HH:mm"))
        fps = self.display_fps()
        text = self.tr("camera: {state} | picture {fps:.0f} fps").format(
            state=self.camera_state_text(self.reader.state), fps=fps)
        if self.server_link is not None:
            from ui.server_link import status_text

            text += " | " + status_text(self.server_link.status)
        self.status_label.setText(text)

    # -- the central service -----------------------------------------------------------------

    def attach_server_link(self, link: ServerLink) -> None:
        """Sync with the service in the background (started here, stopped on close)."""
        self.server_link = link
        link.round_done.connect(self.on_sync_round)
        link.start()
        self.on_clock_timer()

    @pyqtSlot(object)
    def on_sync_round(self, status: SyncStatus) -> None:
        """A sync round ended: new people or events reach the matcher, the status line shows
        the service's state."""
        report = status.report
        if report is not None and report.gallery_changed and not self._shut_down:
            self.on_gallery_changed()
            if self.event_id is None:  # the first sync of a new kiosk brings the events

                chosen = self.gallery.open_event_id()
                if chosen is not None:
                    self.set_event(chosen)
            self._show_event_name()
        self.on_clock_timer()

    @pyqtSlot(object)
    def on_result_ready(self, worker_result: WorkerResult) -> None:
        """Draw the box and the prompt or decision of a processed frame."""
        self.last_result = worker_result
        result = worker_result.result
        box = None if result.box_xyxy is None else tuple(int(v) for v in result.box_xyxy)
        now = time.monotonic()
        if result.decision is not None:
            self.show_decision(result.decision)
        elif now >= self._banner_until and self.camera_problem is None and \
                self.window_state[0] == "open":
            self.show_prompt(result.prompt, box is not None)
        colour = self.banner.property("colour") or GREEN
        self.video.set_box(box, colour if colour != NEUTRAL else AMBER)

    @pyqtSlot(str)
    def on_error(self, message: str) -> None:
        """A frame failed in the worker: keep going, show it in the status line."""
        self.errors.append(message)
        log.warning("worker: %s", message)
        self.status_label.setText(self.tr("error: {message}").format(message=message))

    # -- banner ------------------------------------------------------------------------------

    def prompt_text(self, prompt: Prompt, face: bool) -> tuple[str, str]:
        """The banner text and colour for a prompt."""
        texts = {
            Prompt.STEP_CLOSER: self.tr("Please move closer"),
            Prompt.TOO_DARK: self.tr("Too dark - please face the light"),
            Prompt.LOOK_AT_CAMERA: self.tr("Please look at the camera"),
            Prompt.BLINK: self.tr("Please blink"),
            Prompt.MOVE_A_LITTLE: self.tr("Please move your head a little"),
            Prompt.HOLD_ON: self.tr("Hold on, checking..."),
        }
        if prompt in texts:
            return texts[prompt], AMBER
        if face:
            return self.tr("Hold on, checking..."), AMBER
        return self.tr("Please look at the camera to check in"), NEUTRAL

    def decision_text(self, decision: Decision) -> tuple[str, str]:
        """The banner text and colour for a decision."""
        name = decision.name or ""
        at = short_time(decision.at)
        if decision.outcome is Outcome.CHECKED_IN:
            return self.tr("Welcome, {name} - checked in {time}").format(name=name, time=at), GREEN
        if decision.outcome is Outcome.ALREADY_CHECKED_IN:
            return (self.tr("Welcome, {name} - already checked in at {time}").format(
                name=name, time=at), GREEN)
        if decision.outcome is Outcome.RECOGNISED_NO_EVENT:
            return self.tr("Hello, {name} - no event is open for check-in").format(name=name), AMBER
        if decision.outcome is Outcome.OUTSIDE_WINDOW:
            state, when = event_window_state(self._event_row())
            if state == "before":
                detail = self.tr("check-in opens at {time}").format(time=when)
            elif state == "closed":
                detail = self.tr("check-in closed at {time}").format(time=when)
            else:
                detail = self.tr("no event is open")
            return (self.tr("{name}: check-in is not open now ({detail})").format(
                name=name, detail=detail), AMBER)
        if decision.outcome is Outcome.UNKNOWN:
            return self.tr("Not recognised - please see staff"), RED
        if decision.outcome is Outcome.SPOOF:
            return self.tr("Photo or screen detected - check-in refused"), RED
        return self.tr("Check-in could not be saved - please see staff"), RED

    def show_decision(self, decision: Decision) -> None:
        """Show a decision for ``banner_hold_s`` and announce it."""
        text, colour = self.decision_text(decision)
        self._set_banner(text, colour)
        now = time.monotonic()
        self._banner_until = now + self.settings.ui.banner_hold_s
        self.last_decision = decision
        self.decision_times.append((now, decision))
        if self.server_link is not None and decision.outcome is Outcome.CHECKED_IN:
            self.server_link.sync_now()  # upload it now rather than at the next round
        self.check_in_recorded.emit(decision)

    def show_prompt(self, prompt: Prompt, face: bool) -> None:
        """Show a prompt (or the idle text)."""
        self._set_banner(*self.prompt_text(prompt, face))

    def display_fps(self) -> float:
        """The rate frames were shown at over the last few seconds."""
        times = [t for t in self.display_times if t >= time.monotonic() - 3.0]
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    # -- staff and admin ---------------------------------------------------------------------

    @pyqtSlot(bool)
    def on_fullscreen_toggled(self, _checked: bool = False) -> None:
        """F11: kiosk full screen on and off."""
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def require_staff(self) -> str | None:
        """Ask for the staff PIN or the admin password; the role granted ("staff" / "admin").

        An admin unlock still running counts; a staff unlock lasts like an admin one.
        """
        import ui.admin_login
        from kiosk.auth import Role

        now = time.monotonic()
        if now < self._admin_until_s:
            self._admin_until_s = now + ADMIN_SESSION_S
            return Role.ADMIN.value
        if now < self._staff_until_s:
            self._staff_until_s = now + ADMIN_SESSION_S
            return Role.STAFF.value
        role = ui.admin_login.ask_staff_access(self, self.gallery)
        if role is None:
            return None
        if role is Role.ADMIN:
            self._admin_until_s = time.monotonic() + ADMIN_SESSION_S
        else:
            self._staff_until_s = time.monotonic() + ADMIN_SESSION_S
        return role.value

    def models_not_ready(self) -> bool:
        """Tell the user when enrolment must wait for the models; True when it must."""
        if self.encoder_factory is not None:
            return False
        QMessageBox.information(self, self.tr("Face check-in"), self.tr(
            "The face models are still loading. Try again in a few seconds."))
        return True

    def require_admin(self) -> bool:
        """Ask for the admin password; True when granted (never offers to set one: that is
        ``admin set-password`` on the command line).

        The unlock lasts ``ADMIN_SESSION_S`` after the last admin action, so a kiosk left
        after enrolment does not stay open to the next person at the door.
        """
        import ui.admin_login

        now = time.monotonic()
        if now >= self._admin_until_s:
            if not ui.admin_login.ask_admin_password(self, self.gallery):
                return False
        self._admin_until_s = time.monotonic() + ADMIN_SESSION_S
        return True

    @pyqtSlot()
    def on_staff_clicked(self) -> None:
        """Open the staff panel for the current event."""
        from ui.staff_panel import StaffPanelWidget

        role = self.require_staff()
        if role is None:
            return
        panel = StaffPanelWidget(self.gallery, self.event_id, parent=self, role=role,
                                 settings_files=(self.settings_path,),
                                 server_link=self.server_link)
        self.check_in_recorded.connect(panel.on_check_in_recorded)
        panel.setAttribute(Qt.WA_DeleteOnClose)
        panel.show()

    @pyqtSlot()
    def on_enroll_triggered(self) -> None:
        """Admin: enrol one person."""
        if self.models_not_ready() or not self.require_admin():
            return
        from ui.enroll_dialog import EnrollDialog

        dialog = EnrollDialog(self.settings, self.gallery, self.encoder_factory, self.reader,
                              parent=self, event_id=self.event_id, server_link=self.server_link)
        dialog.person_enrolled.connect(self.on_gallery_changed)
        dialog.exec_()

    def managed_by_service(self) -> bool:
        """On a kiosk connected to the service, say that people are managed there; True then.

        This file is a replica of the service's gallery: a person changed only here would
        differ from the other doors (and be overwritten by the next sync)."""
        if self.server_link is None:
            return False
        QMessageBox.information(self, self.tr("Face check-in"), self.tr(
            "This kiosk is connected to the service: enrol people one by one with "
            "\"Enrol a person...\" (they reach every door), or with enroll / enroll-folder "
            "--server on the command line; people are deleted through the service's API."))
        return True

    @pyqtSlot()
    def on_people_triggered(self) -> None:
        """Admin: the people manager."""
        if self.managed_by_service() or self.models_not_ready() or not self.require_admin():
            return
        from ui.people_dialog import PeopleDialog

        dialog = PeopleDialog(self.settings, self.gallery, self.encoder_factory, self.reader,
                              parent=self)
        dialog.gallery_changed.connect(self.on_gallery_changed)
        dialog.exec_()

    @pyqtSlot()
    def on_folder_triggered(self) -> None:
        """Admin: bulk enrolment from a folder."""
        if self.managed_by_service() or self.models_not_ready() or not self.require_admin():
            return
        from ui.enroll_dialog import FolderEnrollDialog

        dialog = FolderEnrollDialog(self.settings, self.gallery, self.encoder_factory, parent=self)
        dialog.gallery_changed.connect(self.on_gallery_changed)
        dialog.exec_()

    @pyqtSlot()
    def on_events_triggered(self) -> None:
        """Admin: create events and choose the current one."""
        if not self.require_admin():
            return
        from ui.settings_dialog import EventsDialog

        dialog = EventsDialog(self.gallery, self.event_id, parent=self,
                              server_link=self.server_link)
        if dialog.exec_():
            self.set_event(dialog.chosen_event_id())

    @pyqtSlot()
    def on_settings_triggered(self) -> None:
        """Admin: thresholds, camera source, language."""
        if not self.require_admin():
            return
        from ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.gallery, path=self.settings_path, parent=self)
        if dialog.exec_():
            self.settings = dialog.saved_settings or self.settings
            from ui.i18n import install_translator

            install_translator(self.settings.ui.language)
            self.retranslate()

    @pyqtSlot()
    def on_gallery_changed(self) -> None:
        """People were enrolled, renamed or deleted: the worker re-reads its matrix."""
        self.gallery.reload()
        if self.worker is not None:
            self.worker.request_reload()
