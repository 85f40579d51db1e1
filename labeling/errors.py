"""Errors of the review database: each message names the database, visit, line or correction at fault."""
from __future__ import annotations

from data.errors import InputError


class DatabaseError(InputError):
    """The review database cannot be opened: unreadable, not a database, or of a newer schema."""


class NotFoundError(InputError):
    """A visit, line, event, recording or correction that the database does not hold."""


class DecisionError(InputError):
    """A decision that cannot be taken now: the visit is someone else's claim, already final, or changed since."""
