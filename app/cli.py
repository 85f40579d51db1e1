"""The `walkout` command line.

Every user-input error ends as one line on stderr and exit status 2; nothing
the user gave us produces a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from app.progress import ProgressBar
from data.errors import InputError


def _knob_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("random scenario knobs")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--store", default="corner-store", help="preset name or store directory (default corner-store)")
    g.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    g.add_argument("--people", type=int, default=6, help="shoppers (default 6)")
    g.add_argument("--parties", type=int, default=1, help="groups of 2-3 shoppers on one scan (default 1)")
    g.add_argument("--associates", type=int, default=0, help="staff who restock (default 0)")
    g.add_argument("--crowding", type=float, default=0.5, help="0 spread out .. 1 everyone at once (default 0.5)")
    g.add_argument("--items", type=int, nargs=2, default=(1, 4), metavar=("MIN", "MAX"),
                   help="takes per shopper (default 1 4)")
    g.add_argument("--simultaneous", type=float, default=0.1, help="share of shoppers reaching at once (0.1)")
    g.add_argument("--lookalike", type=float, default=0.25, help="share of picks among look-alikes (0.25)")
    g.add_argument("--putback", type=float, default=0.1, help="share of shoppers putting one back (0.1)")
    g.add_argument("--misplaced", type=float, default=0.1, help="share of shoppers misplacing one (0.1)")
    g.add_argument("--handovers", type=int, default=0, help="hand-overs between shoppers (0)")
    g.add_argument("--touches", type=float, default=0.15, help="share of shoppers touching a bin (0.15)")
    g.add_argument("--faults", type=int, default=0, help="hardware faults (0)")
    g.add_argument("--width", type=int, default=640)
    g.add_argument("--height", type=int, default=480)
    g.add_argument("--fps", type=float, default=15.0)
    g.add_argument("--no-depth", action="store_true", help="colour video only")


def _knobs(a: argparse.Namespace):
    from data.random_scenario import Knobs

    for name in ("crowding", "simultaneous", "lookalike", "putback", "misplaced", "touches"):
        v = getattr(a, name)
        if not 0.0 <= v <= 1.0:
            raise InputError(f"--{name}: must be between 0 and 1, got {v}")
    for name in ("people", "parties", "associates", "handovers", "faults"):
        if getattr(a, name) < 0:
            raise InputError(f"--{name}: must be >= 0, got {getattr(a, name)}")
    if a.duration <= 0:
        raise InputError(f"--duration: must be > 0, got {a.duration}")
    if a.items[0] < 0 or a.items[1] < a.items[0]:
        raise InputError(f"--items: MIN must be >= 0 and MAX >= MIN, got {a.items}")
    store = a.store
    if store.startswith(("./", "../", "/")):
        store = str(Path(store).resolve())
    return Knobs(seed=a.seed, store=store, duration_s=a.duration, people=a.people, parties=a.parties,
                 associates=a.associates, crowding=a.crowding, items=tuple(a.items), simultaneous=a.simultaneous,
                 lookalike=a.lookalike, putback=a.putback, misplaced=a.misplaced, handovers=a.handovers,
                 touches=a.touches, faults=a.faults, camera_width=a.width, camera_height=a.height, fps=a.fps,
                 depth=not a.no_depth)


def random_from_args(a: argparse.Namespace):
    """A checked random scenario from the knob flags."""
    from data.camera_placement import auto_cameras
    from data.store_source import load_store
    from data.random_scenario import random_scenario

    k = _knobs(a)
    store, catalog = load_store(k.store)
    from data.scenario import AutoCameras

    cams = auto_cameras(store, AutoCameras(width=k.camera_width, height=k.camera_height, fps=k.fps, depth=k.depth))
    return random_scenario(k, store, catalog, [c.id for c in cams])


def cmd_scenario(a: argparse.Namespace) -> int:
    if not a.random:
        raise InputError("scenario: only --random is supported: `walkout scenario --random [knobs] > s.yaml`")
    sc = random_from_args(a)
    text = yaml.safe_dump(sc.to_json(), sort_keys=False, default_flow_style=None, width=120)
    if a.output:
        Path(a.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_simulate(a: argparse.Namespace) -> int:
    from data.scenario import read_scenario
    from data.simulate import simulate

    if a.random:
        if a.out is not None:
            raise InputError("simulate --random takes only OUT: `walkout simulate --random [knobs] OUT`")
        out = Path(a.scenario)
        sc = random_from_args(a)
    else:
        if a.out is None:
            raise InputError("simulate: expected SCENARIO OUT (or --random OUT)")
        sc = read_scenario(Path(a.scenario))
        out = Path(a.out)
    bar = ProgressBar(enabled=not a.quiet)
    simulate(sc, out, overwrite=a.overwrite, workers=a.workers, progress=bar.update)
    bar.close()
    print(f"wrote {out} ({len(sc.people)} people, {sc.duration_s:g} s)")
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    from data.recording import validate_recording

    problems = validate_recording(Path(a.rec), max_frames=a.frames)
    for p in problems:
        print(p)
    print(f"{len(problems)} problems" if problems else "conforms to walkout-recording/1")
    return 1 if problems else 0


def cmd_pictures(a: argparse.Namespace) -> int:
    from app.pictures import contact_sheet, load_cell_plot, store_map
    from data.recording import open_recording

    rec = Path(a.rec)
    open_recording(rec)  # a clear error before any drawing
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    contact_sheet(rec, a.t, out / "contact_sheet.png")
    load_cell_plot(rec, out / "load_cells.png")
    store_map(rec, out / "store_map.png")
    print(f"wrote {out / 'contact_sheet.png'}, {out / 'load_cells.png'} and {out / 'store_map.png'}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """The main job as far as it goes today: simulate a small store, check it, draw its pictures."""
    from app.pictures import contact_sheet, load_cell_plot
    from data.recording import validate_recording
    from data.simulate import simulate

    a.random = True
    sc = random_from_args(a)
    out = Path(a.out)
    rec = out / "recording"
    bar = ProgressBar(enabled=not a.quiet)
    simulate(sc, rec, overwrite=True, workers=a.workers, progress=bar.update)
    bar.close()
    problems = validate_recording(rec)
    for p in problems:
        print(p)
    t = contact_sheet(rec, None, out / "contact_sheet.png")
    load_cell_plot(rec, out / "load_cells.png")
    visits = json.loads((rec / "truth" / "receipts.json").read_text())["visits"]
    print(f"simulated {sc.duration_s:g} s of {sc.store} with {len(sc.people)} people into {rec}")
    print(f"recording {'conforms to walkout-recording/1' if not problems else 'has problems'}; "
          f"{len(visits)} shopper visits in truth/receipts.json")
    print(f"pictures: {out / 'contact_sheet.png'} (all cameras at t={t:.1f} s), {out / 'load_cells.png'}")
    if problems:
        return 1
    from engine.evaluate import evaluate, format_report
    from engine.process import ProcessOptions, process_recording
    from engine.run import load_run

    bar = ProgressBar(enabled=not a.quiet)
    summary = process_recording(rec, out / "run", ProcessOptions(workers=a.workers, overwrite=True),
                                progress=bar.update)
    bar.close()
    print(summary)
    print(format_report(evaluate(rec, load_run(out / "run"))))
    return demo_review_step(a, out)


def cmd_process(a: argparse.Namespace) -> int:
    from engine.process import ProcessOptions, process_recording

    bar = ProgressBar(enabled=not a.quiet)
    opts = ProcessOptions(pose_hz=a.pose_hz, workers=a.workers, overwrite=a.overwrite, cameras_from=a.cameras_from)
    summary = process_recording(Path(a.rec), Path(a.out), opts, progress=bar.update)
    bar.close()
    print(summary)
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from data.recording import open_recording
    from engine.evaluate import evaluate, format_report
    from engine.run import load_run

    rec = open_recording(Path(a.rec))
    if not rec.has_truth:
        raise InputError(f"{a.rec}: has no truth/ to evaluate against")
    report = evaluate(Path(a.rec), load_run(Path(a.run)))
    if a.json:
        print(json.dumps(report, indent=1, default=float))
    else:
        print(format_report(report))
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    if a.what == "pose":
        from engine.pose2d.train import main as train_pose

        return int(train_pose(a.args) or 0)
    if a.what == "products":
        from engine.products.train import main as train_products

        return int(train_products(a.args) or 0)
    raise InputError(f"train: unknown model {a.what!r}; expected 'pose' or 'products'")


# -- review database: ingest, queue, export (labeling/) --------------------------------------------------------

def _db_arg(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--db", required=required, metavar="URL",
                   help="review database: a SQLAlchemy URL or a SQLite file (default: the per-user "
                        "$XDG_DATA_HOME/walkout/review.db)")


def cmd_ingest(a: argparse.Namespace) -> int:
    from labeling.review_db import open_db

    with open_db(a.db) as db:
        keys = db.ingest_run(Path(a.run))
        held = [q for q in db.queue(include_claimed=True) if q.key in set(keys)]
        print(f"ingested {a.run} into {db.where}: {len(keys)} visits added, {len(held)} of them held for review"
              if keys else f"{a.run}: already in {db.where}; nothing added")
    return 0


def cmd_queue(a: argparse.Namespace) -> int:
    from labeling.review_db import open_db

    with open_db(a.db) as db:
        items = db.queue(reason=a.reason, store=a.store, max_confidence=a.max_confidence,
                         include_claimed=a.all)
    for q in items:
        claim = f"  claimed by {q.claimed_by}" if q.claimed_by else ""
        print(f"{q.key}  {q.confidence:.2f}  {q.lines} lines  {','.join(q.reasons) or '-'}{claim}")
    print(f"{len(items)} held visits")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from labeling.review_db import open_db

    with open_db(a.db) as db:
        if a.what == "receipts":
            paths = db.export_receipts(Path(a.out), recording=a.recording)
            print(f"wrote {len(paths)} receipts file{'s' if len(paths) != 1 else ''}: "
                  + ", ".join(str(p) for p in paths))
            return 0
        from labeling.training_export import export_training

        print(export_training(db, Path(a.out), crops=not a.no_crops, keypoints=not a.no_keypoints))
    return 0


def add_review_db_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("ingest", help="add an engine run's receipts and evidence to the review database")
    s.add_argument("run", help="engine run directory (with receipts.json and evidence.json)")
    _db_arg(s)
    s.set_defaults(func=cmd_ingest)
    s = sub.add_parser("queue", help="list the held visits waiting for review, oldest first")
    _db_arg(s)
    s.add_argument("--reason", help="only visits held for this reason (e.g. look-alike)")
    s.add_argument("--store", help="only this store's visits")
    s.add_argument("--max-confidence", type=float, default=None, help="only visits at or below this confidence")
    s.add_argument("--all", action="store_true", help="include visits someone has claimed")
    s.set_defaults(func=cmd_queue)
    s = sub.add_parser("export", help="final receipts, or training data from reviewers' decisions")
    s.add_argument("what", choices=["receipts", "training"])
    s.add_argument("out", help="receipts: a folder (one receipts.json per recording) or a .json file; "
                               "training: a folder")
    _db_arg(s)
    s.add_argument("--recording", help="receipts: only this recording")
    s.add_argument("--no-crops", action="store_true", help="training: no product crops")
    s.add_argument("--no-keypoints", action="store_true", help="training: no COCO keypoint frames")
    s.set_defaults(func=cmd_export)


# -- review workstation (review_ui/): `walkout review`, and the demo's last step ----------------------------------

def cmd_review(a: argparse.Namespace) -> int:
    from app.review_app import check_display, run_review

    check_display()
    if a.run:
        from labeling.review_db import open_db

        with open_db(a.db) as db:
            db.ingest_run(Path(a.run))
    return run_review(a.db, a.reviewer, a.visit, screenshot=Path(a.screenshot) if a.screenshot else None,
                      layers=a.engineer, keys=a.key)


def demo_review_step(a: argparse.Namespace, out: Path) -> int:
    """Ingest the demo's run and, unless --no-window, open the workstation on its held visits."""
    from app.review_app import check_display, demo_review

    if not getattr(a, "no_window", False):
        check_display()
    return demo_review(out, out / "run", getattr(a, "db", None), window=not getattr(a, "no_window", False))


def add_review_window_commands(sub: argparse._SubParsersAction, demo: argparse.ArgumentParser) -> None:
    s = sub.add_parser("review", help="open the review workstation on the review database's held visits")
    s.add_argument("--db", metavar="URL", help="review database: a SQLAlchemy URL or a SQLite file (default: "
                                               "the per-user $XDG_DATA_HOME/walkout/review.db)")
    s.add_argument("--reviewer", help="who decides (default: the login name)")
    s.add_argument("--visit", help="open this visit (RECORDING/v-0001) instead of the next in the queue")
    s.add_argument("--run", help="ingest this engine run first")
    s.add_argument("--engineer", action="store_true", help="start with every engineer layer on")
    s.add_argument("--key", action="append", metavar="ACTION",
                   help="do this action once the visit is open (a name from review_ui/shortcuts.py; repeatable)")
    s.add_argument("--screenshot", metavar="PNG", help="save the window once the cameras show, then quit")
    s.set_defaults(func=cmd_review)
    demo.add_argument("--no-window", action="store_true", help="ingest the run but open no window (headless)")
    demo.add_argument("--db", metavar="URL", help="review database for the demo (default OUT/review.db)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="walkout", description="Checkout-free store: synthetic store, engine, review.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scenario", help="write a random scenario (YAML) to stdout")
    s.add_argument("--random", action="store_true", required=True)
    s.add_argument("-o", "--output", help="write to this file instead of stdout")
    _knob_args(s)
    s.set_defaults(func=cmd_scenario)
    s = sub.add_parser("simulate", help="simulate a scenario into a recording")
    s.add_argument("scenario", help="scenario file (YAML or JSON); with --random, the output directory")
    s.add_argument("out", nargs="?", help="output recording directory")
    s.add_argument("--random", action="store_true", help="simulate a random scenario built from the knobs")
    s.add_argument("--overwrite", action="store_true", help="replace an existing non-empty OUT")
    s.add_argument("--workers", type=int, default=2, help="camera render processes (default 2)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _knob_args(s)
    s.set_defaults(func=cmd_simulate)
    s = sub.add_parser("validate", help="check a recording against spec/recording.md")
    s.add_argument("rec")
    s.add_argument("--frames", type=int, default=0, help="decode at most this many frames per video (0: all)")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("pictures", help="contact sheet of all cameras and a load-cell plot of a recording")
    s.add_argument("rec")
    s.add_argument("out")
    s.add_argument("--t", type=float, default=None, help="moment for the contact sheet (default: busiest)")
    s.set_defaults(func=cmd_pictures)
    s = sub.add_parser("process", help="run the engine over a recording")
    s.add_argument("rec")
    s.add_argument("--out", required=True, help="engine run directory to write")
    s.add_argument("--pose-hz", type=float, default=None,
                   help="rate of 2D pose and 3D skeletons (default: 7.5, 5 with more than 8 cameras, or the "
                        "--cameras-from run's; best a divisor of the cameras' fps)")
    s.add_argument("--workers", type=int, default=2, help="camera worker processes (default 2)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out")
    s.add_argument("--cameras-from", type=Path, metavar="RUN",
                   help="reuse the camera stage (detections, 2D poses, looks) of an earlier run of this recording:"
                        " reruns only multi-view, tracking and the cart")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_process)
    s = sub.add_parser("evaluate", help="per-stage metrics of an engine run against the recording's truth")
    s.add_argument("rec")
    s.add_argument("run")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_evaluate)
    s = sub.add_parser("train", help="train a model from simulator data (pose, products)")
    s.add_argument("what", choices=["pose", "products"])
    s.add_argument("args", nargs=argparse.REMAINDER,
                   help="options of the trainer (see `walkout train pose -h`, `walkout train products -h`)")
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("demo", help="simulate a small store, validate it and draw its pictures")
    s.add_argument("--out", default="walkout-demo", help="output directory (default ./walkout-demo)")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("-q", "--quiet", action="store_true")
    _knob_args(s)
    s.set_defaults(func=cmd_demo, duration=40.0, people=6, associates=1, handovers=1, faults=1, seed=7)
    add_review_window_commands(sub, s)
    add_review_db_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return a.func(a)
    except InputError as e:
        print(f"walkout {a.cmd}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"walkout {a.cmd}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
