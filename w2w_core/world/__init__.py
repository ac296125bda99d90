"""The embedded identity world: procedural faces with ground-truth attributes.

Seed -> `Identity` (face parameters + binary attributes) -> renders with
nuisance variation, plus the fixed train/held-out split and the prompts
that describe attributes. Pure numpy; no torch.
"""
from w2w_core.world.identity import (
    ATTRIBUTES,
    PARAM_NAMES,
    FaceParams,
    Identity,
    attribute_vector,
    make_identity,
    params_dict,
)
from w2w_core.world.prompts import (
    ATTRIBUTE_PHRASES,
    CLASS_PROMPT,
    INSTANCE_PROMPT,
    PROMPT_WORDS,
    prompt_for,
)
from w2w_core.world.render import STYLES, render_identities, render_identity
from w2w_core.world.split import heldout_seeds, is_heldout, train_seeds

__all__ = [
    "ATTRIBUTES", "ATTRIBUTE_PHRASES", "CLASS_PROMPT", "INSTANCE_PROMPT", "PARAM_NAMES", "PROMPT_WORDS",
    "STYLES", "FaceParams", "Identity", "attribute_vector", "heldout_seeds", "is_heldout",
    "make_identity", "params_dict", "prompt_for", "render_identities", "render_identity", "train_seeds",
]
