"""Errors raised on bad user input: one message naming the file, field or frame."""
from __future__ import annotations


class InputError(ValueError):
    """Something a user gave us (a file, a scenario, an option) is wrong.

    The message is meant to be printed as is, on one line: it names where the
    problem is and what was expected.
    """


class RecordingError(InputError):
    """A recording directory does not follow spec/recording.md."""


class ScenarioError(InputError):
    """A scenario cannot be read or cannot happen (spec/scenario.md)."""
