"""Stage 3a of the engine: 2D COCO-17 keypoints per person box (a small torch network trained on
synthetic-store renders). See MODEL_CARD.md; `PoseEstimator` (engine.pose2d.infer) is the entry point."""
from __future__ import annotations


def __getattr__(name: str):  # lazy: importing the package does not load torch
    if name == "PoseEstimator":
        from engine.pose2d.infer import PoseEstimator
        return PoseEstimator
    raise AttributeError(name)
