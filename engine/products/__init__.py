"""Stage 6 of the engine: object recognition. A small torch embedding network scores in-hand crops
against catalog images of candidate SKUs (look-alikes that weight cannot tell apart), so any
store's catalog works without retraining. See MODEL_CARD.md; `ProductClassifier` and
`hand_crops` (engine.products.infer) are the entry points."""
from __future__ import annotations


def __getattr__(name: str):  # lazy: importing the package does not load torch
    if name in ("ProductClassifier", "hand_crops", "HandCrops", "ProductWeightsError"):
        from engine.products import infer
        return getattr(infer, name)
    raise AttributeError(name)
