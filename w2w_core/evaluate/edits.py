"""Edits against ground truth: did the edit change the target attribute, keep the others and the identity?

Each edited model is compared with its unedited self (the same noise for both) and, where the world
can draw it, with its "twin": the same identity with the attribute truly changed, the ceiling any
weight edit is judged against (paper Sec. 4.2 scores edits by the attribute's classifier and the
identity's FaceNet score; the probe plays both parts here).
"""
from __future__ import annotations

import numpy as np

from w2w_core.errors import InputError
from w2w_core.evaluate.fidelity import centroid_cosines, model_centroids, paired_cosines

FLIP_BAR = 0.9  # issue 11's bars: the target attribute reads as wanted on at least this share of models
PRESERVED_BAR = 0.9  # and the other attributes read as before on at least this share


def flip_rates(after: np.ndarray, had: np.ndarray) -> np.ndarray:
    """Per strength of a sweep: the share of models whose reading of one attribute is no longer what it
    was before the edit. `after` bool [S, M] (strength, model), `had` bool [M]; an edit moves each model
    towards the value it lacked, so a changed reading is a flip."""
    after, had = np.asarray(after, bool), np.asarray(had, bool)
    if after.ndim != 2 or after.shape[1:] != had.shape:
        raise InputError(f"readings after {after.shape} do not match {had.shape} models' readings before")
    return (after != had[None, :]).mean(axis=1)


def preserved_rate(after: np.ndarray, before: np.ndarray, attribute: int) -> float:
    """The share of (model, other attribute) readings that an edit of column `attribute` left as they were
    (`after`, `before` bool [M, A])."""
    others = [i for i in range(before.shape[1]) if i != attribute]
    return float((after[:, others] == before[:, others]).mean())


def edit_scores(after: np.ndarray, embeddings: np.ndarray, targets: np.ndarray, attribute: int,
                before: np.ndarray, before_embeddings: np.ndarray) -> dict[str, float]:
    """Flip, preservation and ID score to the unedited model of M models edited along column `attribute`
    towards `targets` bool [M] (the value each lacked): `after`, `before` bool [M, A] readings by majority,
    `embeddings`, `before_embeddings` unit [M, n, E] with image i of both drawn with the same noise. Also the
    ID score of the flipped models alone (an edit that changes nothing keeps the identity perfectly)."""
    flipped = after[:, attribute] == targets
    ids = paired_cosines(embeddings, before_embeddings)
    return {"flip": float(flip_rates(after[None, :, attribute], ~np.asarray(targets, bool))[0]),
            "preserved": preserved_rate(after, before, attribute),
            "id_unedited": float(ids.mean()),
            "id_flipped": float(ids[flipped].mean()) if flipped.any() else float("nan"),
            "identities": len(targets)}


def truth_scores(embeddings: np.ndarray, twins: np.ndarray, twins_again: np.ndarray,
                 unedited_renders: np.ndarray) -> dict[str, float]:
    """The edited models' images against the world's truth, all unit embeddings [M, n, E]: `twins`, renders
    of each identity with the attribute truly set to its target; `twins_again`, other renders of those twins
    (other nuisance); `unedited_renders`, renders of the unedited identities with the nuisance of `twins`.

      id_truth         mean cosine of the edited models' images to their twin's centroid
      truth_ceiling    the same for the other renders of the twins: what a perfect model of the twin gets
      perfect_edit_id  the ID score to the unedited identity that a perfect edit gets (twin against unedited
                       renders, the same nuisance): below 1 because the attribute itself shows in the embedding
    """
    centroids = model_centroids(twins)
    return {"id_truth": float(centroid_cosines(embeddings, centroids).mean()),
            "truth_ceiling": float(centroid_cosines(twins_again, centroids).mean()),
            "perfect_edit_id": float(paired_cosines(twins, unedited_renders).mean())}


def meets_bars(row: dict[str, float], prompting: dict[str, float] | None) -> bool:
    """Issue 11's verdict on one attribute's edit scores: flip and preservation at their bars, and an ID score
    to the unedited model above the prompting baseline's (where there is one)."""
    above_prompting = prompting is None or row["id_unedited"] > prompting["id_unedited"]
    return row["flip"] >= FLIP_BAR and row["preserved"] >= PRESERVED_BAR and above_prompting
