"""The review workstation's window: queue and map | cameras, load cells, timeline | receipt and events.

It joins the review database (what reviewers see and decide) with the recording's files (what they
watch). Every key comes from `review_ui.shortcuts`; every decision is a `DecisionCommand` on the
visit's undo stack, written to the database when it is made.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QInputDialog, QLabel, QMainWindow, QSplitter,
                               QTextBrowser, QVBoxLayout, QWidget)

from data.errors import InputError
from review_ui.commands import DecisionCommand, DecisionContext
from review_ui.overlays import ENGINEER_LAYERS, Layers
from review_ui.player import SyncPlayer
from review_ui.queue_panel import QueuePanel
from review_ui.receipt_panel import Choice, ReceiptPanel
from review_ui.recording_view import RecordingView
from review_ui.shortcuts import SHORTCUTS, help_html
from review_ui.visit_scene import Focus, VisitScene, event_key

CLIP_PAD_S = 1.5  # an event's clip: its change, and this much either side
LAPSE_S = 900.0

STYLE = """
QWidget { background: #202024; color: #e6e6e6; font-size: 13px; }
QTreeWidget, QListWidget, QTableWidget { background: #18181b; alternate-background-color: #1e1e22; }
QHeaderView::section { background: #2c2c32; color: #ddd; padding: 2px; border: 0; }
QPushButton { background: #2f5f2f; border: 1px solid #4a8a4a; padding: 5px 10px; border-radius: 3px; }
QTreeWidget::item:selected, QTableWidget::item:selected, QListWidget::item:selected { background: #3d4d70; }
QStatusBar { background: #2a2a30; }
QComboBox, QDoubleSpinBox { background: #2a2a30; }
"""


class ReviewWindow(QMainWindow):
    visitOpened = Signal(str)

    def __init__(self, db: Any, reviewer: str, process: Callable | None = None, lapse_s: float = LAPSE_S,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.reviewer = reviewer
        self.process_fn = process
        self.lapse_s = lapse_s
        self.setWindowTitle(f"walkout review — {reviewer}")
        self.setStyleSheet(STYLE)
        self.layers = Layers()
        self.player = SyncPlayer(self)
        self.scenes: dict[str, VisitScene] = {}
        self.view: Any = None  # the database's VisitView of the open visit
        self.key: str | None = None
        self.rview: RecordingView | None = None
        self.stacks: dict[str, QUndoStack] = {}
        self.ctx = DecisionContext(db, reviewer, self._reload, self._refused)
        self.messages: list[str] = []  # everything said to the reviewer (tests read it)
        self.job = None
        # panels
        self.queue = QueuePanel()
        self.queue.openRequested.connect(self.open_visit)
        self.queue.filtersChanged.connect(self.refresh_queue)
        self.receipt = ReceiptPanel(None)
        self.receipt.lineSelected.connect(self._line_selected)
        self.receipt.eventSelected.connect(self.select_event)
        self.receipt.choiceActivated.connect(self.take_choice)
        self.receipt.confirmRequested.connect(self.confirm)
        self.centre = QWidget()
        QVBoxLayout(self.centre).setContentsMargins(0, 0, 0, 0)
        self.placeholder = QLabel("Open a visit from the queue (double-click, Ctrl+O) or take the next (Ctrl+N).\n"
                                  "Press ? for every key.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.centre.layout().addWidget(self.placeholder)
        self.left = QSplitter(Qt.Orientation.Vertical)
        self.left.addWidget(self.queue)
        self.map_holder = QWidget()
        QVBoxLayout(self.map_holder).setContentsMargins(0, 0, 0, 0)
        self.left.addWidget(self.map_holder)
        self.left.setSizes([300, 560])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.left)
        split.addWidget(self.centre)
        split.addWidget(self.receipt)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 1160, 430])
        self.setCentralWidget(split)
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)
        self.actions: dict[str, QAction] = {}
        self._make_actions()
        self.player.stateChanged.connect(self._update_status)
        self.player.cursorChanged.connect(self._on_cursor)
        self.refresh_queue()

    # -- keys -------------------------------------------------------------------------------------
    def _make_actions(self) -> None:
        handlers: dict[str, Callable[[], None]] = {
            "play": self.player.toggle,
            "frame_next": lambda: self.step_frames(1), "frame_prev": lambda: self.step_frames(-1),
            "second_next": lambda: self.player.step_seconds(1.0), "second_prev": lambda: self.player.step_seconds(-1.0),
            "ten_next": lambda: self.player.step_seconds(10.0), "ten_prev": lambda: self.player.step_seconds(-10.0),
            "slower": self.player.slower, "faster": self.player.faster, "speed_1": lambda: self.player.set_speed(1.0),
            "loop": self.toggle_loop, "home": lambda: self.player.seek(self.player.span[0]),
            "end": lambda: self.player.seek(self.player.span[1]),
            "event_next": lambda: self.jump_event(1), "event_prev": lambda: self.jump_event(-1),
            "line_next": lambda: self.receipt.move_line(1), "line_prev": lambda: self.receipt.move_line(-1),
            "camera_next": self._enlarge_next, "visit_next": self.next_visit, "visit_open": self._open_selected,
            "qty_up": lambda: self.change_qty(1), "qty_down": lambda: self.change_qty(-1),
            "search_product": self.search_product, "change_shopper": self.change_shopper,
            "delete_line": self.delete_line, "add_line": self.add_line, "no_event": self.mark_no_event,
            "confirm": self.confirm, "undo": lambda: self.stack().undo(), "redo": lambda: self.stack().redo(),
            "layers_all": self.toggle_all_layers, "process": self.start_processing, "help": self.show_help,
            "quit": self.close,
        }
        for k in range(1, 6):
            handlers[f"alt_{k}"] = (lambda k=k: self.take_alternative(k))
        for name in ENGINEER_LAYERS:
            handlers[f"layer_{name}"] = (lambda name=name: self.toggle_layer(name))
        for s in SHORTCUTS:
            act = QAction(s.help, self)
            act.setShortcuts([QKeySequence(k) for k in s.keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _checked=False, h=handlers[s.action]: h())  # not triggered's bool
            self.addAction(act)
            self.actions[s.action] = act

    def trigger(self, action: str) -> None:
        """Do what a key does, by its action name (scripts and tests)."""
        self.actions[action].trigger()

    # -- messages ---------------------------------------------------------------------------------
    def say(self, text: str, ms: int = 6000) -> None:
        self.messages.append(text)
        self.statusBar().showMessage(text, ms)

    def _refused(self, text: str) -> None:
        self.say(f"not saved: {text}", 10000)

    def _update_status(self) -> None:
        p = self.player
        loop = f"  loop {p.loop[0]:.1f}–{p.loop[1]:.1f} s" if p.loop else ""
        state = "▶" if p.playing else "❚❚"
        on = [n for n in ENGINEER_LAYERS if getattr(self.layers, n)]
        lay = f"  layers: {', '.join(on)}" if on else ""
        self.status_label.setText(f"{state} {p.t:7.3f} s   {p.speed:g}x{loop}{lay}   reviewer {self.reviewer}")

    def _on_cursor(self, t: float) -> None:
        if not self.player.playing:
            self._update_status()

    # -- queue and visits -------------------------------------------------------------------------
    def refresh_queue(self) -> None:
        try:
            items = self.db.queue(include_claimed=True, **self.queue.filters())
        except InputError as e:
            self.say(str(e))
            return
        self.queue.show_items(items, self.key)

    def _open_selected(self) -> None:
        k = self.queue.selected_key()
        if k:
            self.open_visit(k)

    def next_visit(self) -> None:
        try:
            got = self.db.claim_next(self.reviewer, lapse_s=self.lapse_s, **self.queue.filters())
        except InputError as e:
            self.say(str(e))
            return
        if got is None:
            self.say("the queue is empty: no visit is waiting for review")
            return
        self.open_visit(got if isinstance(got, str) else got.key)

    def open_visit(self, key: str) -> bool:
        """Claim a visit and show it at its least certain moment, with the best camera for it enlarged."""
        try:
            if not self.db.claim(key, self.reviewer, lapse_s=self.lapse_s):
                self.say(f"visit {key}: someone else is reviewing it; opened read-only")
            view = self.db.visit(key)
        except InputError as e:
            self.say(str(e))
            return False
        scene = self._scene_for(view)
        if scene is None:
            return False
        self.key = key
        self.view = view
        self._focus(view, scene)
        rv = self.rview
        e = scene.least_certain()
        rv.show_visit()
        if e is not None:
            self.select_event(event_key(e), seek=True)
        else:
            self.player.seek(scene.span()[0])
        self._show_receipt()
        self.refresh_queue()
        self.stack()  # make this visit's undo stack current
        self.visitOpened.emit(key)
        self._update_status()
        return True

    def _release_claim(self) -> None:
        """Closing the window hands the open visit back to the queue at once (else colleagues wait for the claim to
        lapse); what was decided or corrected on it stays. A visit someone else holds is left alone."""
        if self.key is None:
            return
        try:
            self.db.release(self.key, self.reviewer)
        except InputError as e:  # the database went away: the claim lapses on its own
            self.say(str(e))

    def _scene_for(self, view: Any) -> VisitScene | None:
        rec, run = Path(view.recording_path), Path(view.run_path)
        k = str(rec)
        if k not in self.scenes:
            try:
                self.scenes[k] = VisitScene.load(rec, run)
            except InputError as e:
                self.say(f"cannot show visit {view.visit.key}: {e}")
                return None
            for p in self.scenes[k].problems:
                self.say(p)
        scene = self.scenes[k]
        if self.rview is None or self.rview.scene is not scene:
            if self.rview is not None:
                self.rview.close_view()
                self.rview.setParent(None)
                self.rview.map.setParent(None)
            self.placeholder.setVisible(False)
            self.rview = RecordingView(scene, self.layers, self.player)
            self.rview.timeline.eventClicked.connect(self.select_event)
            self.rview.grid.enlargedChanged.connect(lambda _: self._update_status())
            self.centre.layout().addWidget(self.rview)
            self.map_holder.layout().addWidget(self.rview.map)
            self.receipt.scene = scene
        return scene

    def _focus(self, view: Any, scene: VisitScene) -> None:
        v = view.visit
        scene.focus_on(Focus(v.visit, v.entered_at, v.exited_at, list(v.tracks), list(view.events)))

    def _reload(self) -> None:
        """After a decision: the database's view of the visit again (it is the truth), redrawn."""
        if self.key is None:
            return
        try:
            self.view = self.db.visit(self.key)
        except InputError as e:
            self.say(str(e))
            return
        scene = self.rview.scene
        sel = event_key(self.rview.selected) if self.rview.selected is not None else None
        self._focus(self.view, scene)
        self.rview.timeline.show_visit(None)
        if sel is not None:
            self.rview.select(scene.event(sel))
        self._show_receipt()
        self.rview.grid.refresh()

    def _show_receipt(self) -> None:
        v = self.view.visit
        scene = self.rview.scene
        truth = None
        if self.layers.truth and scene.rec.has_truth:
            tr = [x for x in scene.rec.truth_receipts().get("visits", []) if x.get("account") == v.account]
            truth = tr[0]["lines"] if tr else []
        status = v.final_status
        colour = "#8c8" if status != "pending" else "#fc6"
        reasons = ", ".join(v.reasons) or "—"
        html = (f"<b style='font-size:15px'>{v.visit}</b> &nbsp; {v.account or 'no account'}<br>"
                f"engine: {v.engine_status}, confidence <b>{v.engine_confidence:.2f}</b><br>"
                f"held for: {reasons}<br>"
                f"review: <b style='color:{colour}'>{status}</b>"
                + (f" &nbsp; claimed by {v.claimed_by}" if v.claimed_by else ""))
        self.receipt.show_receipt(html, v.visit, list(self.view.lines), list(self.view.events), truth)
        self.receipt.confirm.setEnabled(status == "pending")

    def stack(self) -> QUndoStack:
        k = self.key or ""
        if k not in self.stacks:
            self.stacks[k] = QUndoStack(self)
        return self.stacks[k]

    # -- time -------------------------------------------------------------------------------------
    def step_frames(self, n: int) -> None:
        """Step to the next or previous frame of the enlarged camera (the others follow by time)."""
        if self.rview is None:
            return
        self.player.pause()
        dec = self.rview.grid.decoders.get(self.rview.grid.enlarged)
        ts = dec.times if dec is not None else None
        if ts is None or not len(ts):
            self.player.step_seconds(n / 15.0)
            return
        import numpy as np

        t = self.player.t
        i = int(np.argmin(np.abs(ts - t)))
        j = min(max(i + n, 0), len(ts) - 1)
        self.player.seek(float(ts[j]))

    def toggle_loop(self) -> None:
        if self.player.loop is not None:
            self.player.set_loop(None)
            return
        e = self.rview.selected if self.rview is not None else None
        if e is None:
            t = self.player.t
            self.player.set_loop((t - 2.0, t + 2.0))
        else:
            self.player.set_loop((e.t0 - CLIP_PAD_S, e.t1 + CLIP_PAD_S))
            if not e.t0 - CLIP_PAD_S <= self.player.t <= e.t1 + CLIP_PAD_S:
                self.player.seek(e.t0 - CLIP_PAD_S)

    def select_event(self, ekey: str, seek: bool = True) -> None:
        if self.rview is None:
            return
        scene = self.rview.scene
        e = scene.event(ekey)
        if e is None:
            return
        self.rview.select(e)
        self.receipt.select_event(ekey)
        cam = scene.best_camera(e)
        if cam:
            self.rview.grid.enlarge(cam)
        if self.player.loop is not None:
            self.player.set_loop((e.t0 - CLIP_PAD_S, e.t1 + CLIP_PAD_S))
        if seek:
            self.player.pause()
            self.player.seek(e.t0)
        for ln in self.view.lines if self.view is not None else []:
            if ekey in ln.events:
                self.receipt.select_line(ln.id)
                break

    def jump_event(self, step: int) -> None:
        """Seek to the next (or previous) doubtful event after (before) the cursor."""
        if self.rview is None:
            return
        scene = self.rview.scene
        ev = scene.doubtful() or scene.events_of()
        if not ev:
            self.say("no doubtful event in this visit")
            return
        cur = self.rview.selected
        ck = event_key(cur) if cur is not None else None
        keys = [event_key(e) for e in ev]
        if ck in keys:
            k = (keys.index(ck) + step) % len(ev)
        else:
            t = self.player.t
            later = [k for k, e in enumerate(ev) if (e.t0 > t + 1e-3 if step > 0 else e.t0 < t - 1e-3)]
            k = (later[0] if step > 0 else later[-1]) if later else (0 if step > 0 else len(ev) - 1)
        self.select_event(keys[k])

    def _enlarge_next(self) -> None:
        if self.rview is not None:
            self.rview.grid.enlarge_next()

    # -- decisions --------------------------------------------------------------------------------
    def _decide(self, text: str, apply: Callable[[], Any]) -> DecisionCommand | None:
        if self.key is None:
            self.say("open a visit first")
            return None
        cmd = DecisionCommand(self.ctx, text, apply)
        self.stack().push(cmd)
        if cmd.error is None:
            self.say(f"saved: {text}")
        return cmd

    def _selected_line(self) -> Any:
        ln = self.receipt.line(self.receipt.selected_line)
        if ln is None:
            self.say("select a receipt line first (J/K)")
        return ln

    def _line_selected(self, line_id: int) -> None:
        ln = self.receipt.line(line_id)
        if ln is not None and ln.events and self.rview is not None:
            self.select_event(ln.events[0], seek=True)

    def take_alternative(self, k: int) -> None:
        ln = self._selected_line()
        if ln is None:
            return
        ch = self.receipt.choices.get(ln.id, [])
        if k > len(ch):
            self.say(f"line {ln.id} has {len(ch)} alternatives")
            return
        self.take_choice(ln.id, ch[k - 1])

    def take_choice(self, line_id: int, c: Choice) -> None:
        key = self.key
        if c.field == "sku":
            self._decide(f"line {line_id}: product → {c.value}",
                         lambda: self.db.change_line(line_id, sku=str(c.value), reviewer=self.reviewer))
        elif c.field == "qty":
            self._decide(f"line {line_id}: quantity → {c.value}",
                         lambda: self.db.change_line(line_id, qty=int(c.value), reviewer=self.reviewer))
        elif c.field == "delete":
            self._decide(f"line {line_id}: nobody's, deleted",
                         lambda: self.db.delete_line(line_id, reviewer=self.reviewer))
        elif c.field == "visit":
            target = self._visit_key_in_recording(str(c.value), key)
            self._decide(f"line {line_id}: shopper → {c.value}",
                         lambda: self.db.change_line(line_id, visit=target, reviewer=self.reviewer))

    def _visit_key_in_recording(self, visit: str, key: str | None) -> str:
        return f"{key.rsplit('/', 1)[0]}/{visit}" if key and "/" in key and "/" not in visit else visit

    def change_qty(self, d: int) -> None:
        ln = self._selected_line()
        if ln is None:
            return
        if ln.qty + d < 1:
            self.say("quantity cannot go below 1: delete the line instead (Delete)")
            return
        self._decide(f"line {ln.id}: quantity {ln.qty} → {ln.qty + d}",
                     lambda: self.db.change_line(ln.id, qty=ln.qty + d, reviewer=self.reviewer))

    def delete_line(self) -> None:
        ln = self._selected_line()
        if ln is None:
            return
        self._decide(f"line {ln.id}: deleted", lambda: self.db.delete_line(ln.id, reviewer=self.reviewer))

    def search_product(self) -> None:
        ln = self._selected_line()
        if ln is None:
            return
        sku = self.ask_product(f"line {ln.id}: which product?")
        if sku:
            self._decide(f"line {ln.id}: product → {sku}",
                         lambda: self.db.change_line(ln.id, sku=sku, reviewer=self.reviewer))

    def change_shopper(self) -> None:
        ln = self._selected_line()
        if ln is None:
            return
        visit = self.ask_shopper(f"line {ln.id}: whose is it?")
        if visit:
            target = self._visit_key_in_recording(visit, self.key)
            self._decide(f"line {ln.id}: shopper → {visit}",
                         lambda: self.db.change_line(ln.id, visit=target, reviewer=self.reviewer))

    def add_line(self) -> None:
        if self.key is None:
            return
        t = self.player.t
        sku = self.ask_product(f"add a missed item taken at {t:.2f} s: which product?")
        if sku:
            key = self.key
            self._decide(f"added 1x {sku} at {t:.2f} s",
                         lambda: self.db.add_line(key, sku, 1, t, reviewer=self.reviewer))

    def mark_no_event(self) -> None:
        e = self.rview.selected if self.rview is not None else None
        if e is None:
            self.say("select an event first (N / P, or click it)")
            return
        self._decide(f"event {event_key(e)}: no event", lambda: self.db.mark_no_event(e.id, reviewer=self.reviewer))

    def confirm(self) -> None:
        if self.key is None:
            return
        key = self.key
        self._decide(f"visit {key}: confirmed", lambda: self.db.confirm(key, reviewer=self.reviewer))
        self.refresh_queue()

    # -- questions (tests replace these) ----------------------------------------------------------
    def ask_product(self, title: str) -> str | None:
        """A catalog search: type any part of a name or sku."""
        scene = self.rview.scene if self.rview is not None else None
        if scene is None:
            return None
        items = [f"{p.name}  [{p.sku}]" for p in sorted(scene.rec.catalog.products, key=lambda p: p.name)]
        text, ok = QInputDialog.getItem(self, "Product", title, items, 0, True)
        if not ok or not text:
            return None
        if text.endswith("]") and "[" in text:
            return text.rsplit("[", 1)[1][:-1]
        q = text.lower()
        hits = [p.sku for p in scene.rec.catalog.products if q in p.name.lower() or q == p.sku.lower()]
        return hits[0] if hits else None

    def ask_shopper(self, title: str) -> str | None:
        scene = self.rview.scene if self.rview is not None else None
        visits = [v.visit for v in scene.evidence.visits] if scene is not None and scene.evidence else []
        if not visits:
            return None
        text, ok = QInputDialog.getItem(self, "Shopper", title, visits, 0, False)
        return text if ok and text else None

    # -- layers and help --------------------------------------------------------------------------
    def toggle_layer(self, name: str) -> None:
        if name == "truth" and self.rview is not None and not self.rview.scene.rec.has_truth:
            self.say("this recording has no truth/")
            return
        setattr(self.layers, name, not getattr(self.layers, name))
        self._layers_changed()

    def toggle_all_layers(self) -> None:
        on = not self.layers.any_engineer()
        for n in ENGINEER_LAYERS:
            setattr(self.layers, n, on)
        if self.rview is not None and not self.rview.scene.rec.has_truth:
            self.layers.truth = False
        self._layers_changed()

    def _layers_changed(self) -> None:
        if self.rview is not None:
            self.rview.refresh_layers()
            if self.view is not None:
                self._show_receipt()
        self._update_status()

    def show_help(self) -> None:
        d = QDialog(self)
        d.setWindowTitle("walkout review: keys")
        b = QTextBrowser()
        b.setHtml(help_html())
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(d.reject)
        lay = QVBoxLayout(d)
        lay.addWidget(b)
        lay.addWidget(bb)
        d.resize(620, 760)
        self.help_dialog = d
        d.show()

    # -- background processing --------------------------------------------------------------------
    def start_processing(self) -> None:
        if self.process_fn is None:
            self.say("processing from the app is not wired in this session")
            return
        from PySide6.QtWidgets import QFileDialog

        rec = QFileDialog.getExistingDirectory(self, "Recording to process")
        if rec:
            self.run_job(rec)

    def run_job(self, rec: str) -> None:
        """Process (and ingest) a recording off the UI thread, with progress and cancel."""
        from review_ui.background import JobDialog

        self.job = JobDialog(self, f"processing {Path(rec).name}", lambda progress, cancelled:
                             self.process_fn(Path(rec), progress, cancelled))
        self.job.finished_ok.connect(lambda msg: (self.say(msg), self.refresh_queue()))
        self.job.failed.connect(lambda msg: self.say(f"processing stopped: {msg}"))
        self.job.start()

    # -- closing ----------------------------------------------------------------------------------
    def closeEvent(self, e: QCloseEvent) -> None:  # noqa: N802 - Qt name
        self.player.pause()
        self._release_claim()
        if self.rview is not None:
            self.rview.close_view()
        if self.job is not None:
            self.job.cancel()
        super().closeEvent(e)

