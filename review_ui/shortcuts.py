"""The workstation's whole keyboard map, in one place: every action, its key and what it does.

The main window builds its QActions from this table and `?` shows it, so the help can never
disagree with the keys. Keys are Qt key-sequence strings (QKeySequence portable text).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    action: str  # the name the window binds a handler to
    keys: tuple[str, ...]  # first is the main key, others are alternatives
    group: str
    help: str


SHORTCUTS: tuple[Shortcut, ...] = (
    # playback
    Shortcut("play", ("Space",), "Playback", "play / pause"),
    Shortcut("frame_next", ("Right", "."), "Playback", "next frame (of the enlarged camera)"),
    Shortcut("frame_prev", ("Left", ","), "Playback", "previous frame"),
    Shortcut("second_next", ("Shift+Right",), "Playback", "one second forward"),
    Shortcut("second_prev", ("Shift+Left",), "Playback", "one second back"),
    Shortcut("ten_next", ("Ctrl+Right",), "Playback", "ten seconds forward"),
    Shortcut("ten_prev", ("Ctrl+Left",), "Playback", "ten seconds back"),
    Shortcut("slower", ("[",), "Playback", "slower (0.25x .. 4x)"),
    Shortcut("faster", ("]",), "Playback", "faster (0.25x .. 4x)"),
    Shortcut("speed_1", ("\\",), "Playback", "normal speed (1x)"),
    Shortcut("loop", ("L",), "Playback", "loop the selected event's clip on / off"),
    Shortcut("home", ("Home",), "Playback", "start of the visit"),
    Shortcut("end", ("End",), "Playback", "end of the visit"),
    # navigation
    Shortcut("event_next", ("N",), "Navigate", "next doubtful event (seek to it, best camera enlarged)"),
    Shortcut("event_prev", ("P",), "Navigate", "previous doubtful event"),
    Shortcut("line_next", ("J", "Down"), "Navigate", "select the next receipt line"),
    Shortcut("line_prev", ("K", "Up"), "Navigate", "select the previous receipt line"),
    Shortcut("camera_next", ("Tab",), "Navigate", "enlarge the next camera"),
    Shortcut("visit_next", ("Ctrl+N",), "Navigate", "claim and open the next visit in the queue"),
    Shortcut("visit_open", ("Ctrl+O",), "Navigate", "open the visit selected in the queue"),
    # decisions
    Shortcut("alt_1", ("1",), "Decide", "selected line: take alternative 1 (product, shopper or count)"),
    Shortcut("alt_2", ("2",), "Decide", "selected line: take alternative 2"),
    Shortcut("alt_3", ("3",), "Decide", "selected line: take alternative 3"),
    Shortcut("alt_4", ("4",), "Decide", "selected line: take alternative 4"),
    Shortcut("alt_5", ("5",), "Decide", "selected line: take alternative 5"),
    Shortcut("qty_up", ("+", "="), "Decide", "selected line: one more"),
    Shortcut("qty_down", ("-",), "Decide", "selected line: one fewer"),
    Shortcut("search_product", ("S",), "Decide", "selected line: choose the product from the catalog"),
    Shortcut("change_shopper", ("W",), "Decide", "selected line: move it to another shopper's receipt"),
    Shortcut("delete_line", ("Delete", "D"), "Decide", "delete the selected line"),
    Shortcut("add_line", ("A",), "Decide", "add a missed item at the cursor's time"),
    Shortcut("no_event", ("X",), "Decide", "mark the selected event as no event"),
    Shortcut("confirm", ("Ctrl+Return", "C"), "Decide", "confirm the receipt (as corrected)"),
    Shortcut("undo", ("Ctrl+Z",), "Decide", "undo the last decision"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Decide", "redo"),
    # views
    Shortcut("layer_detections", ("F1",), "Engineer layers", "person detections (boxes)"),
    Shortcut("layer_keypoints", ("F2",), "Engineer layers", "per-camera 2D keypoints"),
    Shortcut("layer_residuals", ("F3",), "Engineer layers", "reprojection residuals (2D found vs 3D projected)"),
    Shortcut("layer_changepoints", ("F4",), "Engineer layers", "load-cell change points"),
    Shortcut("layer_association", ("F5",), "Engineer layers", "association scores (who reached in)"),
    Shortcut("layer_truth", ("F6",), "Engineer layers", "ground truth beside the engine (recordings with truth/)"),
    Shortcut("layers_all", ("F7",), "Engineer layers", "all engineer layers on / off"),
    Shortcut("process", ("Ctrl+P",), "App", "process a recording (in the background)"),
    Shortcut("help", ("?", "F12"), "App", "this map"),
    Shortcut("quit", ("Ctrl+Q",), "App", "quit (every decision is already saved)"),
)

BY_ACTION: dict[str, Shortcut] = {s.action: s for s in SHORTCUTS}


def keys_of(action: str) -> tuple[str, ...]:
    return BY_ACTION[action].keys


def help_text() -> str:
    """The map as plain text, grouped: what `?` shows."""
    out: list[str] = []
    group = None
    for s in SHORTCUTS:
        if s.group != group:
            group = s.group
            out.append(f"\n{group}")
        out.append(f"  {' / '.join(s.keys):<22} {s.help}")
    return "\n".join(out).strip("\n")


def help_html() -> str:
    rows = []
    group = None
    for s in SHORTCUTS:
        if s.group != group:
            group = s.group
            rows.append(f"<tr><td colspan=2><b>{group}</b></td></tr>")
        k = " / ".join(f"<code>{x.replace('<', '&lt;')}</code>" for x in s.keys)
        rows.append(f"<tr><td style='padding-right:16px'>{k}</td><td>{s.help}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"
