"""The receipt being reviewed: lines with their confidence, the evidence behind each, and ranked alternatives.

Under each line come its numbered alternatives (another product, another shopper, another count) — the
number keys take them — and the events it came from (click one to go there). Below, the visit's events
and, with the truth layer on, the recording's true receipt for this account beside the engine's.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from review_ui.visit_scene import DOUBTFUL, VisitScene, event_key

LINE_ROLE = Qt.ItemDataRole.UserRole
CHOICE_ROLE = Qt.ItemDataRole.UserRole + 1
EVENT_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class Choice:
    """One alternative for a line: change its `field` (sku, visit or qty) to `value`; `delete`: nobody's."""
    field: str
    value: str | int
    score: float
    label: str


def choices_for(line, events: list, scene: VisitScene, visit: str) -> list[Choice]:  # noqa: ANN001
    """A line's alternatives, best first per kind: products, then shoppers, then counts (current value left out)."""
    out: list[Choice] = []
    seen: set[tuple[str, object]] = set()

    def add(field: str, value: object, score: float, label: str) -> None:
        if (field, value) not in seen:
            seen.add((field, value))
            out.append(Choice(field, value, float(score), label))

    for a in line.alternatives:
        if a.value != line.sku:
            add("sku", a.value, a.score, f"product: {scene.product_name(str(a.value))}")
    mine = [e for e in events if event_key(e) in set(line.events)]
    for e in mine:
        for a in e.products:
            if a.value != line.sku:
                add("sku", a.value, a.score, f"product: {scene.product_name(str(a.value))}")
    for e in mine:
        for a in e.shoppers:
            if a.value in (None, "nobody"):
                add("delete", "nobody", a.score, "shopper: nobody (take the line off)")
            elif a.value != visit:
                add("visit", a.value, a.score, f"shopper: {a.value}" + (f" ({a.track})" if a.track else ""))
    for e in mine:
        for a in e.counts:
            if int(a.value) != e.qty:
                q = line.qty - e.qty + int(a.value)
                if q > 0:
                    add("qty", q, a.score, f"how many: {q}")
    return out


def _conf_colour(c: float | None) -> QColor:
    if c is None:
        return QColor(150, 200, 255)
    return QColor(120, 220, 120) if c >= DOUBTFUL else QColor(250, 190, 80) if c >= 0.7 else QColor(255, 100, 90)


class ReceiptPanel(QWidget):
    lineSelected = Signal(int)  # line id
    eventSelected = Signal(str)  # event key
    choiceActivated = Signal(int, object)  # line id, Choice
    confirmRequested = Signal()

    def __init__(self, scene: VisitScene | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.header = QLabel("no visit open")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["line", "qty", "conf"])
        hdr = self.tree.header()
        hdr.setStretchLastSection(False)
        hdr.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hdr.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        self.tree.setColumnWidth(1, 36)
        self.tree.setColumnWidth(2, 48)
        self.tree.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the window's shortcuts
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemDoubleClicked.connect(self._double)
        self.confirm = QPushButton("Confirm receipt  (Ctrl+Enter)")
        self.confirm.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.confirm.clicked.connect(self.confirmRequested)
        self.total = QLabel("")
        self.events = QListWidget()
        self.events.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.events.itemClicked.connect(lambda it: self.eventSelected.emit(it.data(EVENT_ROLE)))
        self.truth = QLabel("")
        self.truth.setWordWrap(True)
        self.truth.setTextFormat(Qt.TextFormat.RichText)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.header)
        tl.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addWidget(self.total, 1)
        row.addWidget(self.confirm)
        tl.addLayout(row)
        tl.addWidget(self.truth)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        lab = QLabel("<b>events</b> (red: doubtful; click to go there)")
        bl.addWidget(lab)
        bl.addWidget(self.events, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([600, 260])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(split)
        self.lines: list = []
        self.choices: dict[int, list[Choice]] = {}
        self.selected_line: int | None = None
        self.visit = ""

    # -- filling ----------------------------------------------------------------------------------
    def show_receipt(self, header_html: str, visit: str, lines: list, events: list,
                     truth_lines: list[dict] | None = None) -> None:
        self.header.setText(header_html)
        self.visit = visit
        self.lines = [ln for ln in lines]
        keep = self.selected_line
        self.tree.clear()
        self.choices = {}
        total = 0
        bold = QFont()
        bold.setBold(True)
        for n, ln in enumerate(self.lines, start=1):
            name = self.scene.product_name(ln.sku)
            tag = " (added)" if ln.origin == "reviewer" else ""
            it = QTreeWidgetItem([f"{n}  {name}{tag}", str(ln.qty),
                                  "—" if ln.confidence is None else f"{ln.confidence:.2f}"])
            it.setData(0, LINE_ROLE, ln.id)
            it.setFont(0, bold)
            it.setForeground(2, QBrush(_conf_colour(ln.confidence)))
            if ln.deleted:
                f = QFont()
                f.setStrikeOut(True)
                for c in range(3):
                    it.setFont(c, f)
                    it.setForeground(c, QBrush(QColor(130, 130, 130)))
            else:
                total += ln.qty * ln.price_cents
            self.tree.addTopLevelItem(it)
            ch = choices_for(ln, events, self.scene, visit) if not ln.deleted else []
            self.choices[ln.id] = ch
            for k, c in enumerate(ch[:9], start=1):
                sub = QTreeWidgetItem([f"  {k}  {c.label}", "", f"{c.score:.2f}"])
                sub.setData(0, LINE_ROLE, ln.id)
                sub.setData(0, CHOICE_ROLE, k - 1)
                sub.setForeground(0, QBrush(QColor(190, 200, 255)))
                it.addChild(sub)
            for ek in ln.events:
                e = self.scene.event(ek)
                text = f"  evidence {ek}" if e is None else (
                    f"  evidence {ek}: {e.kind} {e.sensor} {e.delta_g:+.0f} g at {e.t0:.1f} s")
                sub = QTreeWidgetItem([text, "", "" if e is None else f"{e.confidence:.2f}"])
                sub.setData(0, LINE_ROLE, ln.id)
                sub.setData(0, EVENT_ROLE, ek)
                sub.setForeground(0, QBrush(QColor(170, 170, 170)))
                it.addChild(sub)
            if ln.t is not None and not ln.events:
                sub = QTreeWidgetItem([f"  added by a reviewer at {ln.t:.1f} s", "", ""])
                sub.setData(0, LINE_ROLE, ln.id)
                it.addChild(sub)
            it.setExpanded(True)
        self.total.setText(f"total ${total / 100:.2f}")
        self.events.clear()
        for e in sorted(events, key=lambda x: x.t0):
            who = e.visit or "nobody"
            text = (f"{e.t0:5.1f}  {e.kind} {self.scene.product_name(e.sku)} x{e.qty} → {who}  "
                    f"{e.confidence:.2f}")
            if getattr(e, "no_event", False):
                text += "  [no event]"
            it = QListWidgetItem(text)
            it.setData(EVENT_ROLE, event_key(e))
            doubt = (e.confidence < DOUBTFUL or e.reasons) and not getattr(e, "no_event", False)
            it.setForeground(QColor(255, 120, 100) if doubt else QColor(200, 200, 200))
            it.setToolTip(f"{event_key(e)} on {e.sensor} ({e.bin}), {e.delta_g:+.0f} g, {e.t0:.2f}–{e.t1:.2f} s"
                          + (f"\nwhy doubtful: {', '.join(e.reasons)}" if e.reasons else ""))
            self.events.addItem(it)
        if truth_lines is None:
            self.truth.setText("")
        else:
            rows = ", ".join(f"{d['qty']}x {self.scene.product_name(d['sku'])}" for d in truth_lines) or "nothing"
            self.truth.setText(f"<span style='color:#ddd'><b>truth:</b> {rows}</span>")
        ids = [ln.id for ln in self.lines]
        self.select_line(keep if keep in ids else (ids[0] if ids else None))

    # -- selection --------------------------------------------------------------------------------
    def select_line(self, line_id: int | None) -> None:
        self.selected_line = line_id
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            if it.data(0, LINE_ROLE) == line_id:
                self.tree.setCurrentItem(it)
                return

    def move_line(self, step: int) -> int | None:
        ids = [ln.id for ln in self.lines]
        if not ids:
            return None
        k = ids.index(self.selected_line) if self.selected_line in ids else -1
        nid = ids[min(max(k + step, 0), len(ids) - 1)]
        self.select_line(nid)
        self.lineSelected.emit(nid)
        return nid

    def line(self, line_id: int | None):  # noqa: ANN201
        return next((ln for ln in self.lines if ln.id == line_id), None)

    def select_event(self, ekey: str) -> None:
        for i in range(self.events.count()):
            it = self.events.item(i)
            if it.data(EVENT_ROLE) == ekey:
                self.events.setCurrentItem(it)

    def _clicked(self, it: QTreeWidgetItem) -> None:
        lid = it.data(0, LINE_ROLE)
        if lid is not None:
            self.selected_line = lid
            self.lineSelected.emit(lid)
        ek = it.data(0, EVENT_ROLE)
        if ek:
            self.eventSelected.emit(ek)

    def _double(self, it: QTreeWidgetItem) -> None:
        k = it.data(0, CHOICE_ROLE)
        lid = it.data(0, LINE_ROLE)
        if k is not None and lid is not None:
            self.choiceActivated.emit(lid, self.choices[lid][k])
