"""The product classifier's view of a tracked hand at a moment: the cart's `ProductViewer`.

Look-alikes weigh the same, so only pixels can tell them apart. For a (time, track, hand) the
viewer takes the track's wrist and elbow at that time, picks the cameras that see the wrist
nearest and unobstructed by the image border, crops around the hand in a few frames around the
moment, and averages the classifier's log-probabilities over the crops. Streams are opened once
and kept; the classifier is loaded once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from data.recording import Recording
from data.world import L_ELBOW, L_WRIST, R_ELBOW, R_WRIST
from engine.cart import VIEW_FLOOR
from engine.run import Run

CAMERAS_PER_VIEW = 3
# a hand none of whose crops is at least this similar (cosine) to any candidate's catalog picture holds none of
# them: in the cart recordings the best crop of a held product scores 0.93-0.98, an empty hand's 0.6-0.7
EMPTY_COS = 0.8
EMPTY_P = VIEW_FLOOR  # each candidate's value for such a hand, the cart's floor for a view: it holds none of them
OFFSETS_S = (-0.2, 0.0, 0.2)


class HandViewer:
    def __init__(self, rec: Recording, run: Run, weights: Path | None = None, threads: int = 1) -> None:
        from engine.products.infer import ProductClassifier

        self.rec, self.run = rec, run
        self.classifier = ProductClassifier(rec.catalog.root, rec.catalog, weights=weights, threads=threads)
        self.cams = [c for c in rec.cameras if c.video]
        self._streams: dict[str, object] = {}
        self.looks = 0
        # a hand's crops at a moment, embedded once: the cart asks about it again (several readings, beam branches,
        # `held` and __call__ with different candidates)
        self._embedded: dict[tuple[float, int, str], np.ndarray | None] = {}

    def _stream(self, cam_id: str):
        from engine.frames import CameraStream

        if cam_id not in self._streams:
            self._streams[cam_id] = CameraStream(self.rec, cam_id)
        return self._streams[cam_id]

    def _joint(self, t: float, track: int, j: int) -> np.ndarray | None:
        ts = self.run.t
        i = int(np.searchsorted(ts, t))
        cands = [k for k in (i - 1, i) if 0 <= k < len(ts)]
        pts = [(abs(ts[k] - t), self.run.joints[k, track, j].astype(float)) for k in cands]
        pts = [p for d, p in sorted(pts, key=lambda x: x[0]) if np.isfinite(p).all() and d < 0.5]
        return pts[0] if pts else None

    def __call__(self, t: float, track: int, hand: str, candidates: list[str]) -> np.ndarray | None:
        cos = self._similarities(t, track, hand, candidates)
        return None if cos is None else self._probabilities(cos)

    def held(self, t: float, track: int, hand: str, candidates: list[str]) -> np.ndarray | None:
        """Each candidate's best cosine over the hand's crops (None when unseen): whether this hand holds that
        product at all, where __call__ says which of the candidates it holds."""
        cos = self._similarities(t, track, hand, candidates)
        return None if cos is None else cos.max(axis=0)

    def _similarities(self, t: float, track: int, hand: str, candidates: list[str]) -> np.ndarray | None:
        key = (round(t, 4), track, hand)
        if key not in self._embedded:
            w_j, e_j = (L_WRIST, L_ELBOW) if hand == "left" else (R_WRIST, R_ELBOW)
            wrist, elbow = self._joint(t, track, w_j), self._joint(t, track, e_j)
            self._embedded[key] = None if wrist is None else self._crop_embeddings(t, wrist, elbow)
        e = self._embedded[key]
        return None if e is None else self.classifier.cosines(e, candidates)

    def at_point(self, t: float, wrist: np.ndarray, elbow: np.ndarray | None, candidates: list[str]
                 ) -> np.ndarray | None:
        """Probabilities over the candidates of the product held at a 3D point (None when no camera sees it)."""
        e = self._crop_embeddings(t, np.asarray(wrist, float), elbow)
        return None if e is None else self._probabilities(self.classifier.cosines(e, candidates))

    def _probabilities(self, cos: np.ndarray) -> np.ndarray:
        """The classifier's softmax always names a candidate, even for an empty hand. Where no crop looks like any
        candidate (EMPTY_COS), every candidate gets EMPTY_P instead: the hand holds none of them. That is
        evidence at a hand-over (the giver's hand is empty after it, the receiver's before), and says nothing
        between look-alikes (all equal)."""
        if float(cos.max()) < EMPTY_COS:
            return np.full(cos.shape[1], EMPTY_P)
        p = self.classifier.probabilities(cos)
        logp = np.log(np.clip(p, 1e-6, 1.0)).mean(axis=0)
        q = np.exp(logp - logp.max())
        return q / q.sum()

    def _crop_embeddings(self, t: float, wrist: np.ndarray, elbow: np.ndarray | None) -> np.ndarray | None:
        """The classifier's embeddings of the hand's crops at a 3D point (None when no camera sees it)."""
        from engine.products.infer import hand_crops

        ranked = []
        for c in self.cams:
            z = float(c.to_camera(wrist[None])[0, 2])
            if z <= 0.1:
                continue
            uv = c.project(wrist[None])
            if not c.in_image(uv)[0]:
                continue
            margin = min(uv[0, 0], uv[0, 1], c.width - uv[0, 0], c.height - uv[0, 1])
            ranked.append((z - 0.002 * min(margin, 100.0), c))
        ranked.sort(key=lambda x: x[0])
        crops = []
        for _, c in ranked[:CAMERAS_PER_VIEW]:
            stream = self._stream(c.id)
            for dt in OFFSETS_S:
                try:
                    fr = stream.frame_at(t + dt, rgb=True, depth=False)
                except Exception:  # a camera without a frame there (gap, end): use the others
                    continue
                hc = hand_crops(fr.rgb, c, wrist[None], elbows3d=None if elbow is None else elbow[None])
                if hc.inside[0]:
                    crops.append(hc.images[0])
        if not crops:
            return None
        self.looks += 1
        return self.classifier.embed_crops(crops)

    def close(self) -> None:
        for s in self._streams.values():
            s.close()
        self._streams.clear()


def hand_viewer(rec: Recording, run: Run) -> HandViewer | None:
    """The viewer when the recording has video and the classifier's weights are there; else None."""
    from engine.products import infer

    if not any(c.video for c in rec.cameras):
        return None
    weights = getattr(infer, "DEFAULT_WEIGHTS", None)
    if weights is not None and not Path(weights).is_file():
        return None
    return HandViewer(rec, run)
