"""Benchmark: the cart stage (issue 4) over labelled adversarial recordings, with calibration.

    .venv/bin/python benchmarks/bench_cart.py --seeds 100-117 [--fit] [--oracle [poses|identity]]

Each seed's recording and perception run come from benchmarks/cart_dataset.py (made there when
missing). The cart runs once per seed; the visit confidence's calibration is then fitted on half
the seeds and applied to the other half (two folds by seed parity), so every figure below is
out-of-sample (`--held-out`: scored with the committed calibration instead, for recordings it was not
fitted on). `--fit` also fits on all seeds and writes engine/cart_calibration.json, the
calibration `process` uses. `--oracle` replaces perception by truth poses (the cart alone);
`--oracle identity` keeps the engine's skeletons but takes who is who from the truth, so the two
halves of perception can be told apart (`engine.oracle.identity_run`).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cart_dataset import ROOT, ensure, parse_seeds  # noqa: E402
from data.recording import open_recording  # noqa: E402
from engine.evaluate_cart import CartReport, evaluate_cart, format_cart_report  # noqa: E402
from engine.oracle import identity_run, truth_run  # noqa: E402
from engine.product_views import hand_viewer  # noqa: E402
from engine.receipts import run_cart  # noqa: E402
from engine.visit_confidence import fit_calibration, load_calibration  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="100-117")
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--fit", action="store_true", help="write engine/cart_calibration.json fitted on all seeds")
    ap.add_argument("--oracle", nargs="?", const="poses", choices=("poses", "identity"),
                    help="poses: truth poses instead of perception; identity: the engine's skeletons, grouped "
                         "into people by the truth (what tracking errors cost)")
    ap.add_argument("--no-viewer", action="store_true", help="without the product classifier")
    ap.add_argument("--held-out", action="store_true",
                    help="score confidences with the committed calibration, not out of fold: for recordings it was "
                         "not fitted on (what `walkout process` would have charged)")
    a = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    per_seed: list[tuple[int, CartReport, dict]] = []
    cart_s, rec_s = 0.0, 0.0
    for s in parse_seeds(a.seeds):
        rec_dir, run_dir = ensure(s, a.root)
        if a.oracle:
            o = a.root / f"seed-{s}" / ("oracle" if a.oracle == "poses" else "oracle-identity")
            shutil.rmtree(o, ignore_errors=True)
            run_dir = truth_run(rec_dir, o) if a.oracle == "poses" else identity_run(rec_dir, run_dir, o)
        res, sec = run_cart(rec_dir, run_dir, viewer_factory=None if a.no_viewer else hand_viewer, write=False)
        rec = open_recording(rec_dir)
        cart_s += sec
        rec_s += rec.duration_s
        rep = evaluate_cart(rec, res.evidence)
        per_seed.append((s, rep, res.risks))
        print(f"seed {s}: {len(rep.visits)} visits, {sum(v.exact for v in rep.visits)} exact, cart {sec:.1f} s",
              flush=True)
    # out-of-fold calibration: fit on the other parity's seeds (or, held out, the committed one for all)
    total = CartReport()
    if a.held_out:
        folds = [(load_calibration(), [(rep, risks) for _, rep, risks in per_seed])]
    else:
        folds = []
        for fold in (0, 1):
            train = [(rep, risks) for s, rep, risks in per_seed if s % 2 != fold]
            test = [(rep, risks) for s, rep, risks in per_seed if s % 2 == fold]
            X = [risks[v.visit] for rep, risks in train for v in rep.visits if v.visit in risks]
            y = [v.exact for rep, risks in train for v in rep.visits if v.visit in risks]
            if X and test:
                folds.append((fit_calibration(X, y), test))
    for cal, test in folds:
        for rep, risks in test:
            out = CartReport()
            out.merge(rep)
            out.visits = []
            for v in rep.visits:
                if v.visit in risks:
                    c = cal.confidence(risks[v.visit])
                    v = replace(v, confidence=c, status="auto" if c >= cal.threshold else "review")
                out.visits.append(v)
            total.merge(out)
    print()
    print(f"{len(per_seed)} recordings, {len(total.visits)} visits; cart stage {cart_s:.1f} s for {rec_s:.0f} s "
          f"of recordings ({cart_s / max(rec_s, 1e-9):.3f}x real time)" + (f" [ORACLE {a.oracle}]" if a.oracle else ""))
    print(format_cart_report(total))
    wrong = [v for v in total.visits if not v.exact]
    print(f"\nwrong receipts ({len(wrong)}):")
    for v in wrong:
        print(f"  {v.account} {v.status} conf {v.confidence:.3f} reasons {v.reasons}: engine {v.engine} "
              f"truth {v.truth}")
    if a.fit:
        X = [risks[v.visit] for _, rep, risks in per_seed for v in rep.visits if v.visit in risks]
        y = [v.exact for _, rep, risks in per_seed for v in rep.visits if v.visit in risks]
        cal = fit_calibration(X, y)
        cal.fitted_on += f", seeds {a.seeds} of benchmarks/cart_dataset.py, {time.strftime('%Y-%m-%d')}"
        cal.save()
        print(f"\nwrote engine/cart_calibration.json: threshold {cal.threshold:.4f} ({cal.fitted_on})")
    conf = np.array([v.confidence for v in total.visits])
    print(f"confidence quantiles 10/50/90 %: {np.percentile(conf, [10, 50, 90]).round(3).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
