"""Keep None, True and False alive under PySide6 builds that hand them back without a reference.

The PySide6 6.12 wheels in this project's environment return None from every void method (and bools
from some) without taking a reference. On Python 3.12+ these objects are immortal and nothing
happens; on 3.11 each call takes one reference away, and after a few hundred thousand calls (minutes
of playback) the interpreter aborts with "Fatal Python error: none_dealloc". Until the binding is
fixed (or pinned to a release without the bug), we give those three singletons so many references that
no session can use them up. It changes nothing else: they are never freed on any Python anyway.
"""
from __future__ import annotations

import ctypes
import sys

_SPARE = 1 << 40  # a million calls a second would take 12 days to spend this
_done = False


def protect_singletons() -> bool:
    """Add spare references to None, True and False on CPython < 3.12; True when it did."""
    global _done
    if _done or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _SPARE  # ob_refcnt is a PyObject's first field
    _done = True
    return True
