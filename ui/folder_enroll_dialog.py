"""Bulk enrolment from a folder of photos named by external id, in a worker thread with its
own gallery connection, with progress and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt5.QtCore import QThread, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (
    QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPlainTextEdit,
    QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from kiosk.config import Settings
from kiosk.gallery import Gallery
from ui.tasks import TaskWorker, start_task, stop_task


class FolderEnrollDialog(QDialog):
    """Bulk enrolment from a folder of photos named by external id, with progress and a report.

    Signals:
        gallery_changed(): people were enrolled (whoever matches re-reads the gallery).
        report_ready(object): the :class:`kiosk.enroll_folder.FolderReport`.
    """

    gallery_changed = pyqtSignal()
    report_ready = pyqtSignal(object)

    def __init__(self, settings: Settings, gallery: Gallery, encoder_factory: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.gallery = gallery
        self.encoder_factory = encoder_factory
        self.report: Any = None
        self._task: TaskWorker | None = None
        self._thread: QThread | None = None
        self.setWindowTitle(self.tr("Enrol a folder of photos"))
        self.resize(640, 460)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr(
            "Photos named by external id (E001.jpg, E001_2.jpg). Names come from an imported "
            "roster; otherwise the external id is the name."), self))
        row = QHBoxLayout()
        self.folder_edit = QLineEdit(self)
        browse = QPushButton(self.tr("Choose..."), self)
        browse.clicked.connect(self.on_browse_clicked)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        self.progress_bar = QProgressBar(self)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel(self)
        layout.addWidget(self.status_label)
        self.report_text = QPlainTextEdit(self)
        self.report_text.setReadOnly(True)
        layout.addWidget(self.report_text, 1)
        buttons = QHBoxLayout()
        self.start_button = QPushButton(self.tr("Start"), self)
        self.start_button.clicked.connect(self.on_start_clicked)
        close = QPushButton(self.tr("Close"), self)
        close.clicked.connect(self.reject)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)

    @pyqtSlot()
    def on_browse_clicked(self) -> None:
        """Choose the folder."""
        folder = QFileDialog.getExistingDirectory(self, self.tr("Folder of photos"))
        if folder:
            self.folder_edit.setText(folder)

    @pyqtSlot()
    def on_start_clicked(self) -> None:
        """Enrol the folder in a worker (its own gallery connection)."""
        from kiosk.enroll_folder import enroll_folder
        from kiosk.gallery import open_gallery

        folder = self.folder_edit.text().strip()
        if not Path(folder).is_dir():
            QMessageBox.warning(self, self.windowTitle(), self.tr("Choose a folder first."))
            return
        settings, encoder = self.settings, self.encoder_factory()

        def run(progress, cancelled):
            gallery = open_gallery(settings)
            try:
                return enroll_folder(
                    gallery, encoder, folder, recognition=settings.recognition, actor="admin",
                    progress=progress, should_cancel=cancelled)
            finally:
                gallery.close()

        self.start_button.setEnabled(False)
        self.report_text.clear()
        self._task = TaskWorker(run)
        self._task.progress.connect(self.on_progress)
        self._task.done.connect(self.on_done)
        self._task.failed.connect(self.on_failed)
        self._thread = start_task(self._task, self)

    @pyqtSlot(int, int, str)
    def on_progress(self, done: int, total: int, name: str) -> None:
        """Advance the bar."""
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(done)
        self.status_label.setText(f"{done}/{total}  {name}")

    @pyqtSlot(object)
    def on_done(self, report: Any) -> None:
        """Show the report."""
        stop_task(self._task, self._thread)
        self._task = self._thread = None
        self.report = report
        self.start_button.setEnabled(True)
        lines = [self.tr("{people} people enrolled from {total} photos; {refused} photos refused.")
                 .format(people=len(report.enrolled), total=report.total, refused=len(report.refused))]
        lines += [f"  {name}: {reason}" for name, reason in report.refused]
        self.report_text.setPlainText("\n".join(lines))
        if report.enrolled:
            self.gallery_changed.emit()  # the window re-reads the matrices (a task thread)
        self.report_ready.emit(report)

    @pyqtSlot(str)
    def on_failed(self, message: str) -> None:
        """The run failed."""
        stop_task(self._task, self._thread)
        self._task = self._thread = None
        self.start_button.setEnabled(True)
        self.report_text.setPlainText(message)

    def done(self, result: int) -> None:  # noqa: A003 (Qt override)
        """Close: cancel and join the worker first."""
        stop_task(self._task, self._thread)
        super().done(result)
