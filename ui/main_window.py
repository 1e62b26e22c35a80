"""The attendee screen: the live picture, the face box and a large banner.

The window is a view: it draws the reader's newest frame at camera rate (a light QTimer, no
cv2 on this thread) and the worker's results (box, prompt, decision) as they arrive by signal.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

from PyQt5.QtCore import QDateTime, Qt, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QFont, QKeySequence
from PyQt5.QtWidgets import (
    QAction, QHBoxLayout, QLabel, QMainWindow, QMenu, QSizePolicy, QToolButton, QVBoxLayout,
    QWidget,
)

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.gallery import Gallery
from kiosk.pipeline import Decision, Outcome, Prompt
from ui.text import short_time
from ui.video_view import VideoView
from ui.worker import PipelineWorker, WorkerResult, start_worker, stop_worker

log = logging.getLogger(__name__)

DISPLAY_POLL_MS = 10  # the display timer looks for a new camera frame this often
GREEN, AMBER, RED, NEUTRAL = "#1b5e20", "#e69500", "#b71c1c", "#263238"


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

    def __init__(
        self,
        settings: Settings,
        reader: LatestFrameReader,
        worker: PipelineWorker,
        gallery: Gallery,
        event_id: int | None = None,
        encoder_factory: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.reader = reader
        self.worker = worker
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
        self._build()
        self.display_timer = QTimer(self)
        self.display_timer.setInterval(DISPLAY_POLL_MS)
        self.display_timer.timeout.connect(self.on_display_timer)
        self.clock_timer = QTimer(self)
        self.clock_timer.setInterval(1000)
        self.clock_timer.timeout.connect(self.on_clock_timer)
        self.worker.result_ready.connect(self.on_result_ready)
        self.worker.error.connect(self.on_error)
        self.retranslate()

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
        self.enrol_action = QAction(self)
        self.people_action = QAction(self)
        self.folder_action = QAction(self)
        self.events_action = QAction(self)
        self.settings_action = QAction(self)
        for action in (self.enrol_action, self.people_action, self.folder_action,
                       self.events_action, self.settings_action):
            self.admin_menu.addAction(action)
        self.admin_button.setMenu(self.admin_menu)
        self.enrol_action.triggered.connect(self.on_enrol_triggered)
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
        self.enrol_action.setText(self.tr("Enrol a person..."))
        self.people_action.setText(self.tr("People..."))
        self.folder_action.setText(self.tr("Enrol a folder of photos..."))
        self.events_action.setText(self.tr("Events..."))
        self.settings_action.setText(self.tr("Settings..."))
        self.video.placeholder = self.tr("Starting the camera...")
        self._show_event_name()
        self.on_clock_timer()
        if time.monotonic() >= self._banner_until:
            self._set_banner(self.tr("Please look at the camera to check in"), NEUTRAL)

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

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread and the display (the reader is already running)."""
        self.thread = start_worker(self.worker, self)
        self.display_timer.start()
        self.clock_timer.start()

    def shutdown(self) -> None:
        """Stop the display, the worker, its thread and the reader, in that order (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.display_timer.stop()
        self.clock_timer.stop()
        if self.thread is not None and not stop_worker(self.worker, self.thread):
            log.error("the pipeline worker did not stop in time")
        self.reader.stop()
        self.gallery.close()
        self.closed.emit()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    def set_event(self, event_id: int | None) -> None:
        """Check people in to another event from now on."""
        self.event_id = event_id
        self.worker.set_event(event_id)
        self._show_event_name()

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
        self.display_times.append(now)

    @pyqtSlot()
    def on_clock_timer(self) -> None:
        """Update the clock and the small status line."""
        self.clock_label.setText(QDateTime.currentDateTime().toString("HH:mm"))
        fps = self.display_fps()
        self.status_label.setText(
            self.tr("camera: {state} | picture {fps:.0f} fps").format(
                state=self.reader.state.value, fps=fps)
        )

    @pyqtSlot(object)
    def on_result_ready(self, worker_result: WorkerResult) -> None:
        """Draw the box and the prompt or decision of a processed frame."""
        self.last_result = worker_result
        result = worker_result.result
        box = None if result.box_xyxy is None else tuple(int(v) for v in result.box_xyxy)
        now = time.monotonic()
        if result.decision is not None:
            self.show_decision(result.decision)
        elif now >= self._banner_until:
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
            return (self.tr("{name}: check-in is not open now ({detail})").format(
                name=name, detail=decision.message), AMBER)
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

    def require_admin(self) -> bool:
        """Ask for the admin password (set it on first use); True when granted.

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

        panel = StaffPanelWidget(self.gallery, self.event_id, parent=self)
        self.check_in_recorded.connect(panel.on_check_in_recorded)
        panel.setAttribute(Qt.WA_DeleteOnClose)
        panel.show()

    @pyqtSlot()
    def on_enrol_triggered(self) -> None:
        """Admin: enrol one person."""
        if not self.require_admin():
            return
        from ui.enroll_dialog import EnrollDialog

        dialog = EnrollDialog(self.settings, self.gallery, self.encoder_factory, self.reader,
                              parent=self)
        dialog.person_enrolled.connect(self.on_gallery_changed)
        dialog.exec_()

    @pyqtSlot()
    def on_people_triggered(self) -> None:
        """Admin: the people manager."""
        if not self.require_admin():
            return
        from ui.people_dialog import PeopleDialog

        dialog = PeopleDialog(self.settings, self.gallery, self.encoder_factory, self.reader,
                              parent=self)
        dialog.gallery_changed.connect(self.on_gallery_changed)
        dialog.exec_()

    @pyqtSlot()
    def on_folder_triggered(self) -> None:
        """Admin: bulk enrolment from a folder."""
        if not self.require_admin():
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

        dialog = EventsDialog(self.gallery, self.event_id, parent=self)
        if dialog.exec_():
            self.set_event(dialog.chosen_event_id())

    @pyqtSlot()
    def on_settings_triggered(self) -> None:
        """Admin: thresholds, camera source, language."""
        if not self.require_admin():
            return
        from ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.gallery, parent=self)
        if dialog.exec_():
            self.settings = dialog.saved_settings or self.settings
            from ui.i18n import install_translator

            install_translator(self.settings.ui.language)
            self.retranslate()

    @pyqtSlot()
    def on_gallery_changed(self) -> None:
        """People were enrolled, renamed or deleted: the worker re-reads its matrix."""
        self.gallery.reload()
        self.worker.request_reload()
