"""The installed PySide6 must not drop references to None/True/False (the PySide6 6.12.0 bug).

PySide6 6.12.0 on CPython 3.11 takes one reference off None on every void method call (and off
True/False on some pyqtgraph paint paths), so long playback aborts with "Fatal Python error:
none_dealloc". pyproject.toml pins pyside6-essentials to 6.11.3, which is sound; these tests catch an
upgrade that brings the bug back. (On CPython 3.12+ the singletons are immortal: the tests pass there.)

review_ui is imported first on purpose: on a leaky build its guard (review_ui/refcount_guard.py)
applies itself, so these tests fail with a clear assertion instead of aborting the whole run.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import review_ui  # noqa: F401 - applies the refcount guard only if the self-test detects the leak
from review_ui import refcount_guard
import PySide6
from PySide6 import QtCore, QtGui

TOLERANCE = 5  # references; a leaky build loses one per call, i.e. ~1000 here


def _refcounts() -> tuple[int, int, int]:
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


@pytest.fixture(autouse=True)
def _no_collection_midway():
    """Garbage left by earlier tests (a closed window's objects hold True, False and None) must not be
    collected in the middle of a count: that moves the counts without any binding at fault."""
    import gc

    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_qpainter_void_calls_keep_none_refcount():
    image = QtGui.QImage(64, 64, QtGui.QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QtGui.QPainter(image)
    pen = QtGui.QPen(QtGui.QColor(255, 0, 0))
    color = QtGui.QColor(0, 255, 0)
    rect = QtCore.QRect(0, 0, 10, 10)
    try:
        for _ in range(5):  # warm-up
            painter.setPen(pen); painter.drawLine(0, 0, 10, 10); painter.fillRect(rect, color)
        before = sys.getrefcount(None)
        for _ in range(250):  # 4 void calls a round: 1000 calls
            painter.setPen(pen)
            painter.drawLine(0, 0, 10, 10)
            painter.fillRect(rect, color)
            painter.setBrush(color)
        after = sys.getrefcount(None)
    finally:
        painter.end()
    lost = before - after
    assert lost <= TOLERANCE, (
        f"1000 void QPainter calls took {lost} references off None: this PySide6 "
        f"({PySide6.__version__}) has the refcount bug of 6.12.0; keep pyside6-essentials pinned to 6.11.3"
    )


def test_pyqtgraph_updates_keep_singleton_refcounts(qapp):
    import pyqtgraph as pg

    widget = pg.PlotWidget()
    widget.resize(320, 240)
    widget.show()
    x = np.arange(100, dtype=float)
    curve = widget.plot(x, np.zeros_like(x))
    for i in range(10):  # warm-up: axes, caches, item pools
        curve.setData(x, np.sin(x * 0.1 + i))
        qapp.processEvents()
        widget.grab()
    before = _refcounts()
    for i in range(200):
        curve.setData(x, np.sin(x * 0.1 + i))
        qapp.processEvents()
        widget.grab()
    after = _refcounts()
    widget.close()
    lost = dict(zip(("None", "True", "False"), (b - a for b, a in zip(before, after))))
    # caches may add references (growth is harmless); only a drop means the binding is leaking them
    assert all(n <= TOLERANCE for n in lost.values()), f"pyqtgraph repaint loop lost references: {lost}"


@pytest.mark.skipif(not refcount_guard._needs_guard(), reason="None/True/False are immortal here")
def test_refcount_guard_is_a_no_op_on_the_pinned_pyside6():
    assert not refcount_guard.singleton_leak_detected()
    assert not refcount_guard._applied
