"""SensLI: sensitivity-based layer insertion (Kreis et al., arXiv 2311.15995).

sites = sensli.candidate_sites(model)                        # where a layer may go
scores = sensli.sensitivities(model, loader, method="closed_form")   # or "autograd"
new_model = sensli.insert(model, sensli.select(scores, "abs max").site)
result = sensli.grow(model, train_loader, test_loader, epochs=[450, 1400], lr=0.2)
wider = sensli.grow(model, train_loader, kinds=("dense", "width"), site_options={"fan_in": "gradmax"})
                                                             # deeper or wider (per_parameter score)
"""

from .closed_form import (
    conv_multipliers,
    dense_multipliers,
    residual_conv_multipliers,
    residual_dense_multipliers,
    site_multipliers,
    width_multipliers,
)
from .fan_in import choose_fan_in, gradmax_directions, random_fan_in
from .growth import GrowthResult, InsertionRecord, grow
from .insertion import insert
from .norms import NORMS, SITE_SCORES, default_norm, score, spectral_norm_squared
from .selection import MODES, select
from .sensitivity import METHODS, SensitivityResult, SiteScore, extended_model, sensitivities
from .sites import FAN_IN_RULES, KINDS, Site, added_parameters, candidate_sites
from .virtual import virtual_modules
from .widening import widen

__all__ = [
    "FAN_IN_RULES",
    "KINDS",
    "METHODS",
    "MODES",
    "NORMS",
    "SITE_SCORES",
    "GrowthResult",
    "InsertionRecord",
    "SensitivityResult",
    "Site",
    "SiteScore",
    "added_parameters",
    "candidate_sites",
    "choose_fan_in",
    "conv_multipliers",
    "default_norm",
    "dense_multipliers",
    "extended_model",
    "gradmax_directions",
    "grow",
    "insert",
    "random_fan_in",
    "residual_conv_multipliers",
    "residual_dense_multipliers",
    "score",
    "select",
    "sensitivities",
    "site_multipliers",
    "spectral_norm_squared",
    "virtual_modules",
    "widen",
    "width_multipliers",
]
