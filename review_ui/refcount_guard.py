"""Keep None, True and False alive under PySide6 builds that hand them back without a reference.

PySide6 6.12.0 (pyside6-essentials / shiboken6 6.12.0) returns None from every void method (and bools
from some paths, e.g. pyqtgraph's paint code) without taking a reference. On Python 3.12+ these
objects are immortal and nothing happens; on 3.11 each call takes one reference away, and after a few
thousand to a few hundred thousand calls the interpreter aborts with "Fatal Python error: none_dealloc".

pyproject.toml pins pyside6-essentials to a release without the bug (6.11.3), so normally this module
does nothing: on import of review_ui it runs a 50-call QPainter self-test and only if None's refcount
drops does it give the three singletons so many spare references that no session can use them up (and
warn once). That changes nothing else: they are never freed on any Python anyway.
tests/test_qt_refcount.py fails if the installed PySide6 has the bug, so an upgrade that brings it
back is caught before this fallback is ever relied on.
"""
from __future__ import annotations

import ctypes
import sys
import warnings

_SPARE = 1 << 40  # a million calls a second would take 12 days to spend this
_SELF_TEST_CALLS = 50
_LEAK_THRESHOLD = 10  # None refs lost over the self-test before we call it a leak (a leaky build loses ~50+)

_applied = False
_checked = False
_leaked: bool | None = None


def _needs_guard() -> bool:
    """Only CPython before 3.12 has mortal None/True/False."""
    return sys.implementation.name == "cpython" and sys.version_info < (3, 12)


def measure_none_leak(calls: int = _SELF_TEST_CALLS) -> int:
    """References to None lost over `calls` rounds of void QPainter calls on a QImage (0 on a sound build).

    Needs no QApplication. A leaky build loses several references per round, so do not pass a count
    anywhere near None's refcount (a few thousand) on such a build.
    """
    from PySide6 import QtCore, QtGui

    image = QtGui.QImage(16, 16, QtGui.QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QtGui.QPainter(image)
    try:
        pen = QtGui.QPen(QtGui.QColor(255, 0, 0))
        color = QtGui.QColor(0, 255, 0)
        rect = QtCore.QRect(0, 0, 4, 4)

        def one_round() -> None:
            painter.setPen(pen)
            painter.drawLine(0, 0, 8, 8)
            painter.fillRect(rect, color)

        for _ in range(3):  # warm up: first calls may populate caches holding None
            one_round()
        before = sys.getrefcount(None)
        for _ in range(calls):
            one_round()
        after = sys.getrefcount(None)
    finally:
        painter.end()
    return before - after


def singleton_leak_detected() -> bool:
    """Run the self-test once (cached); True when this PySide6 build drops references to None."""
    global _checked, _leaked
    if not _checked:
        _checked = True
        try:
            _leaked = measure_none_leak() > _LEAK_THRESHOLD
        except Exception as exc:  # no usable Qt: nothing to guard against here
            warnings.warn(f"review_ui refcount self-test could not run ({exc!r}); guard not applied",
                          RuntimeWarning, stacklevel=2)
            _leaked = False
    return bool(_leaked)


def _apply() -> None:
    global _applied
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _SPARE  # ob_refcnt is a PyObject's first field
    _applied = True


def protect_singletons(force: bool = False) -> bool:
    """Add spare references to None, True and False if (CPython < 3.12 and) the installed PySide6 leaks them.

    Returns True when it applied the guard on this call. `force=True` skips the self-test.
    """
    if _applied or not _needs_guard():
        return False
    if not force:
        if not singleton_leak_detected():
            return False
        import PySide6

        warnings.warn(
            f"PySide6 {PySide6.__version__} drops a reference to None on void calls (CPython "
            f"{sys.version_info.major}.{sys.version_info.minor}); applying review_ui.refcount_guard. "
            "Install the pyside6-essentials version pinned in pyproject.toml.",
            RuntimeWarning,
            stacklevel=2,
        )
    _apply()
    return True
