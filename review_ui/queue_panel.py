"""The queue of held visits (oldest first, as the database hands them out), with filters (reason, store, confidence at most).

It only lists; the window claims and opens (double-click, Ctrl+O for the selected one, Ctrl+N for the
next unclaimed).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from review_ui.visit_scene import DOUBTFUL

KEY_ROLE = Qt.ItemDataRole.UserRole


class QueuePanel(QWidget):
    openRequested = Signal(str)  # visit key
    filtersChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["visit", "conf", "why held"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 92)
        self.table.setColumnWidth(1, 40)
        self.table.cellDoubleClicked.connect(lambda r, c: self.openRequested.emit(self.table.item(r, 0).data(KEY_ROLE)))
        self.reason = QComboBox()
        self.reason.addItem("any reason", None)
        self.store = QComboBox()
        self.store.addItem("any store", None)
        self.max_conf = QDoubleSpinBox()
        self.max_conf.setRange(0.0, 1.0)
        self.max_conf.setSingleStep(0.05)
        self.max_conf.setValue(1.0)
        for w in (self.reason, self.store, self.max_conf):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.reason.currentIndexChanged.connect(self.filtersChanged)
        self.store.currentIndexChanged.connect(self.filtersChanged)
        self.max_conf.valueChanged.connect(self.filtersChanged)
        self.count = QLabel("")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("reason", self.reason)
        form.addRow("store", self.store)
        form.addRow("conf ≤", self.max_conf)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        title = QLabel("<b>queue</b> (held visits, oldest first)")
        lay.addWidget(title)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count)
        lay.addLayout(form)

    def filters(self) -> dict:
        mc = self.max_conf.value()
        return {"reason": self.reason.currentData(), "store": self.store.currentData(),
                "max_confidence": None if mc >= 1.0 else mc}

    def _set_options(self, box: QComboBox, values: list[str]) -> None:
        have = {box.itemData(i) for i in range(box.count())}
        for v in sorted(set(values) - have):
            box.blockSignals(True)
            box.addItem(v, v)
            box.blockSignals(False)

    def show_items(self, items: list, current: str | None = None) -> None:
        """Fill from the database's QueueItems (least certain first)."""
        self._set_options(self.reason, [r for it in items for r in it.reasons])
        self._set_options(self.store, [it.store for it in items if it.store])
        self.table.setRowCount(len(items))
        for r, it in enumerate(items):
            a = QTableWidgetItem(it.visit + ("  ▶" if it.key == current else ""))
            a.setData(KEY_ROLE, it.key)
            a.setToolTip(f"{it.key}\naccount {it.account}\nclaimed by {it.claimed_by or 'nobody'}")
            c = QTableWidgetItem(f"{it.confidence:.2f}")
            c.setForeground(QColor(255, 110, 90) if it.confidence < 0.7 else QColor(250, 190, 80)
                            if it.confidence < DOUBTFUL else QColor(140, 220, 140))
            w = QTableWidgetItem(", ".join(it.reasons) + (f"  [{it.claimed_by}]" if it.claimed_by else ""))
            for k, x in enumerate((a, c, w)):
                self.table.setItem(r, k, x)
            if it.key == current:
                self.table.selectRow(r)
        self.count.setText(f"{len(items)} held visits")

    def selected_key(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(KEY_ROLE)
