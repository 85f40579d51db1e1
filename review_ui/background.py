"""Long work (processing a recording) off the UI thread, with a progress dialog and a cancel button.

The job is a plain function `job(progress, cancelled) -> str`: it reports `progress(stage, fraction)`
and checks `cancelled()` (or lets `progress` raise `Cancelled`) so it can stop cleanly; the UI thread
only ever sees signals.
"""
from __future__ import annotations

import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from data.errors import InputError

Job = Callable[[Callable[[str, float], None], Callable[[], bool]], str]


class Cancelled(Exception):
    """Raised inside a job when the person pressed Cancel."""


class JobThread(QThread):
    progressed = Signal(str, float)
    succeeded = Signal(str)
    failed = Signal(str)

    def __init__(self, job: Job, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, stage: str, frac: float) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        self.progressed.emit(stage, float(frac))

    def run(self) -> None:  # the worker thread
        try:
            msg = self.job(self._progress, self.cancelled)
        except Cancelled:
            self.failed.emit("cancelled; nothing half-written was kept")
        except InputError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - a bug in a job must not take the workstation down
            traceback.print_exc()
            self.failed.emit(f"{type(e).__name__}: {e}")
        else:
            self.succeeded.emit(msg or "done")


class JobDialog(QObject):
    """A job in a JobThread with a non-blocking progress dialog (the review goes on meanwhile)."""
    finished_ok = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QWidget, title: str, job: Job) -> None:
        super().__init__(parent)
        self.thread = JobThread(job, self)
        self.dialog = QProgressDialog(title, "Cancel", 0, 1000, parent)
        self.dialog.setWindowModality(Qt.WindowModality.NonModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.canceled.connect(self.cancel)
        self.thread.progressed.connect(self._progress)
        self.thread.succeeded.connect(self._done)
        self.thread.failed.connect(self._failed)

    def start(self) -> None:
        self.dialog.show()
        self.thread.start()

    def cancel(self) -> None:
        self.thread.cancel()

    def wait(self, ms: int = 600000) -> bool:
        return self.thread.wait(ms)

    def _progress(self, stage: str, frac: float) -> None:
        self.dialog.setLabelText(f"{stage}: {frac * 100:.0f} %")
        self.dialog.setValue(int(frac * 1000))

    def _done(self, msg: str) -> None:
        self.dialog.reset()
        self.dialog.hide()
        self.finished_ok.emit(msg)

    def _failed(self, msg: str) -> None:
        self.dialog.reset()
        self.dialog.hide()
        self.failed.emit(msg)
