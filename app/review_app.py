"""Starting the review workstation: the Qt application, the window, processing from the app, screenshots.

`walkout review` and `walkout demo` come here. Processing a recording from the app runs
`process_and_ingest` in a worker thread (review_ui.background) with progress and cancel.
"""
from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Callable

from data.errors import InputError


def reviewer_name(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def process_and_ingest(db_url: str | None) -> Callable:
    """The app's processing job: engine run beside the recording (REC.run/), then ingested into the database."""
    def job(rec: Path, progress: Callable[[str, float], None], cancelled: Callable[[], bool]) -> str:
        from engine.process import ProcessOptions, process_recording
        from labeling.review_db import open_db

        out = rec.parent / f"{rec.name}.run"
        summary = process_recording(rec, out, ProcessOptions(workers=1, overwrite=True), progress=progress)
        if cancelled():
            return "cancelled after processing; the run was kept but not ingested"
        progress("ingest", 0.0)
        with open_db(db_url) as db:
            keys = db.ingest_run(out)
        progress("ingest", 1.0)
        return f"{summary}; {len(keys)} visits ingested"
    return job


def _app():  # noqa: ANN202 - QApplication
    from PySide6.QtWidgets import QApplication

    import review_ui  # noqa: F401 - its guard must come before any Qt call

    return QApplication.instance() or QApplication(sys.argv[:1])


def startup_error_box(message: str):  # noqa: ANN201 - a QMessageBox
    """The dialog that says why the workstation cannot open (the same words as on the command line)."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.Critical, "walkout review cannot open",
                      f"{message}\n\nNothing was changed. Check the path or URL given with --db.")
    return box


def run_review(db_url: str | None, reviewer: str | None = None, visit: str | None = None,
               screenshot: Path | None = None, layers: bool = False, size: tuple[int, int] = (1920, 1080),
               keys: list[str] | None = None) -> int:
    """Open the workstation on the database; with `screenshot`, grab the window once the cameras show and quit."""
    from labeling.review_db import open_db

    try:
        db = open_db(db_url)
    except InputError as e:  # the CLI prints it and exits 2; a reviewer who started the app from a menu sees it
        if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            _app()
            startup_error_box(str(e)).exec()
        raise
    app = _app()
    from PySide6.QtCore import QTimer

    from review_ui.main_window import ReviewWindow
    from review_ui.script_hook import ScriptRunner

    w = ReviewWindow(db, reviewer_name(reviewer), process=process_and_ingest(db_url))
    w.resize(*size)
    w.show()
    app.processEvents()
    if visit:
        if not w.open_visit(visit):
            w.close()
            db.close()
            raise InputError(w.messages[-1] if w.messages else f"cannot open visit {visit}")
    else:
        w.next_visit()
    if layers:
        w.toggle_all_layers()
    for k in keys or []:
        w.trigger(k)
    script = os.environ.get("WALKOUT_REVIEW_SCRIPT")
    runner = ScriptRunner(w, Path(script)) if script else None
    if runner is not None:
        QTimer.singleShot(0, w, runner.start)
    if screenshot is not None:
        def shoot() -> None:
            w.grab().save(str(screenshot))
            print(f"wrote {screenshot}")
            w.close()
        _when_shown(w, shoot)
    rc = app.exec()
    db.close()
    return rc


def _when_shown(w, fn: Callable[[], None], settle_ms: int = 900) -> None:  # noqa: ANN001
    """Call fn once every camera shows its frame and the plots are drawn (or after 8 s)."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    clock = QElapsedTimer()
    clock.start()

    def check() -> None:
        ready = w.rview is None or w.rview.grid.all_shown()
        if ready or clock.elapsed() > 8000:
            QTimer.singleShot(settle_ms, w, fn)
        else:
            QTimer.singleShot(50, w, check)
    QTimer.singleShot(50, w, check)


def demo_review(out: Path, run: Path, db_url: str | None, window: bool, quiet: bool = False) -> int:
    """After `walkout demo` processed its recording: ingest the run and open the workstation on its held visits."""
    from labeling.review_db import open_db

    url = db_url or str(out / "review.db")
    with open_db(url) as db:
        keys = db.ingest_run(run)
        held = db.queue(include_claimed=True)
    print(f"review database {url}: {len(keys)} visits ingested, {len(held)} held for review")
    if not window:
        print(f"open them with: walkout review --db {url}")
        return 0
    if not held:
        print("no visit is held for review: nothing to open")
        return 0
    return run_review(url, None, held[0].key)


def check_display() -> None:
    """A clear message instead of Qt's abort when there is no display to open a window on."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise InputError("no display to open the window on (set DISPLAY, run under xvfb-run, "
                         "or QT_QPA_PLATFORM=offscreen; `walkout demo --no-window` does everything but the window)")
