"""A scripted reviewer, for tests that must drive the real app in its own process (the crash test).

`WALKOUT_REVIEW_SCRIPT=script.json walkout review ...` with
    {"actions": ["event_next", "alt_1", "qty_up", ...], "answers": {"product": "sku-0003"},
     "done": "/tmp/progress.txt", "interval_ms": 150}
triggers each action as its key would, one per interval, and after each appends
`<n> <action> <undo index>` to `done` (flushed to disk), so a test knows what was decided before it kills
the process. `answers` replace the dialogs that would otherwise ask (product, shopper).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QTimer


class ScriptRunner:
    def __init__(self, window, path: Path) -> None:  # noqa: ANN001 - ReviewWindow
        spec = json.loads(Path(path).read_text())
        self.w = window
        self.actions: list[str] = list(spec.get("actions", []))
        self.answers: dict[str, str] = dict(spec.get("answers", {}))
        self.done = Path(spec["done"]) if spec.get("done") else None
        self.interval = int(spec.get("interval_ms", 150))
        self.n = 0
        if "product" in self.answers:
            window.ask_product = lambda title: self.answers["product"]
        if "shopper" in self.answers:
            window.ask_shopper = lambda title: self.answers["shopper"]

    def start(self) -> None:
        QTimer.singleShot(self.interval, self.w, self._step)

    def _step(self) -> None:
        if self.n >= len(self.actions):
            self._log("end")
            return
        a = self.actions[self.n]
        self.n += 1
        self.w.trigger(a)
        self._log(a)
        QTimer.singleShot(self.interval, self.w, self._step)

    def _log(self, what: str) -> None:
        if self.done is None:
            return
        with open(self.done, "a") as f:
            f.write(f"{self.n} {what} {self.w.stack().index()}\n")
            f.flush()
            os.fsync(f.fileno())
