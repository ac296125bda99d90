"""Every score w2w reports, one function each: used alike by the report, the benchmarks and the tests.

  fidelity     a model's images against its identity (ID score, rank percentile, centroids)
  reading      what the probe reads off images (attributes by majority) and the one probe Reader
  edits        flip, preservation and ID of an edit; its world-truth twin; the bars' verdict
  samples      sampled models: apart from each other, each one person, attribute frequencies
  inversion    which identity an inverted model is closest to
  directions   entanglement of directions, and how much of a true edit a direction carries
  truth        the world's renders of identities and of their truly edited twins

The probe stands in for the paper's FaceNet identity score and CLIP attribute checks (Sec. 4);
the scores only compare arrays, so they are exact and cheap.
"""
from w2w_core.evaluate.directions import mean_and_error, move_cosines, other_moves, weight_space_cosines
from w2w_core.evaluate.edits import (
    FLIP_BAR,
    PRESERVED_BAR,
    edit_scores,
    flip_rates,
    meets_bars,
    preserved_rate,
    truth_scores,
)
from w2w_core.evaluate.fidelity import (
    centroid_cosines,
    centroid_pair_cosines,
    fidelity_percentiles,
    id_scores,
    identity_centroids,
    model_centroids,
    paired_cosines,
    rank_percentile,
)
from w2w_core.evaluate.inversion import closest_identity
from w2w_core.evaluate.reading import Reader, attribute_accuracy, majority
from w2w_core.evaluate.samples import attribute_frequencies, mean_apart, paired_apart, spread_between_and_within
from w2w_core.evaluate.truth import renders, twin_renders

__all__ = [
    "FLIP_BAR", "PRESERVED_BAR", "Reader", "attribute_accuracy", "attribute_frequencies", "centroid_cosines",
    "centroid_pair_cosines",
    "closest_identity", "edit_scores", "fidelity_percentiles", "flip_rates", "id_scores", "identity_centroids",
    "majority", "mean_and_error", "mean_apart", "meets_bars", "model_centroids", "move_cosines", "other_moves",
    "paired_apart", "paired_cosines", "preserved_rate", "rank_percentile", "renders", "spread_between_and_within",
    "truth_scores", "twin_renders", "weight_space_cosines",
]
