"""SensLI: sensitivity-based layer insertion (Kreis et al., arXiv 2311.15995).

sites = sensli.candidate_sites(model)                        # where a layer may go
scores = sensli.sensitivities(model, loader, method="closed_form")   # or "autograd"
new_model = sensli.insert(model, sensli.select(scores, "abs max").site)
result = sensli.grow(model, train_loader, test_loader, epochs=[450, 1400], lr=0.2)
"""

from .closed_form import (
    conv_multipliers,
    dense_multipliers,
    residual_conv_multipliers,
    residual_dense_multipliers,
    site_multipliers,
)
from .growth import GrowthResult, InsertionRecord, grow
from .insertion import insert
from .norms import NORMS, default_norm, score, spectral_norm_squared
from .selection import MODES, select
from .sensitivity import METHODS, SensitivityResult, SiteScore, extended_model, sensitivities
from .sites import KINDS, Site, candidate_sites
from .virtual import virtual_modules

__all__ = [
    "KINDS",
    "METHODS",
    "MODES",
    "NORMS",
    "GrowthResult",
    "InsertionRecord",
    "SensitivityResult",
    "Site",
    "SiteScore",
    "candidate_sites",
    "conv_multipliers",
    "default_norm",
    "dense_multipliers",
    "extended_model",
    "grow",
    "insert",
    "residual_conv_multipliers",
    "residual_dense_multipliers",
    "score",
    "select",
    "sensitivities",
    "site_multipliers",
    "spectral_norm_squared",
    "virtual_modules",
]
