"""Selection rules: which site (if any) gets the new layer, given the sensitivities.

"abs max"    SensLI: the site with the largest score
"abs min"    the paper's comparison ("LIother"): the smallest score
"random"     a site drawn uniformly with a seeded generator (a baseline)
"pos K" / K  the K-th candidate site (0-based), whatever the scores (a baseline)
"threshold"  when to insert: the arg-max site, but only if its scaled score (||G||_F^2 / entries)
             exceeds tau times the mean scaled score over the existing weights of the same kind
             and all virtual weights (the reference CNN code's 'threshold_rel', tau = 1);
             otherwise no insertion (None). The mean runs over existing + virtual layers.

"second order" experimental (not the paper's): the site with the largest predicted decrease
             ||G||^4 / (2 G^T H G) of the quadratic model along -G (second_order.py; inf where
             the curvature is <= 0, ties broken by ||G||^2); needs sensitivities(...,
             second_order=True)
"""

from __future__ import annotations

from typing import Any

from .. import backend, checks
from .sensitivity import SensitivityResult, SiteScore

MODES = ("abs max", "abs min", "random", "threshold", "second order", "pos K")


def parse_mode(mode: Any) -> tuple[str, int | None]:
    """Normalise a mode: ('abs max', None), ..., ('pos', K)."""
    if isinstance(mode, int) and not isinstance(mode, bool) and mode >= 0:
        return "pos", mode
    if isinstance(mode, str):
        if mode in ("abs max", "abs min", "random", "threshold", "second order"):
            return mode, None
        parts = mode.split()
        if len(parts) == 2 and parts[0] == "pos" and parts[1].isdigit():
            return "pos", int(parts[1])
    raise ValueError(f"unknown selection mode {mode!r}; choose one of {MODES} (e.g. 'pos 0') or an int")


def select(
    result: SensitivityResult, mode: Any = "abs max", rng: Any = None, threshold: float = 1.0
) -> SiteScore | None:
    """The chosen SiteScore, or None when the threshold rule decides not to insert."""
    if not result:
        raise ValueError("select: no candidate sites to choose from")
    name, position = parse_mode(mode)
    if name == "abs max":
        return max(result, key=lambda s: s.score)
    if name == "abs min":
        return min(result, key=lambda s: s.score)
    if name == "second order":
        if any(s.predicted_decrease is None for s in result):
            raise ValueError("select: 'second order' needs sensitivities(..., second_order=True)")
        return max(
            result, key=lambda s: (s.predicted_decrease, sum(float((g * g).sum()) for g in s.multipliers.values()))
        )
    if name == "random":
        rng = rng if rng is not None else backend.new_rng()
        return result[int(rng.integers(len(result)))]
    if name == "pos":
        assert position is not None  # parse_mode gives 'pos' with its index
        if not 0 <= position < len(result):
            raise ValueError(f"select: 'pos {position}' but the model has {len(result)} candidate sites")
        return result[position]
    checks.positive("select: threshold", threshold)
    if result.existing is None:
        raise ValueError(
            "select: the threshold rule compares with the existing weights; compute the "
            "sensitivities with score_existing=True"
        )
    best = max(result, key=lambda s: s.scaled_score)
    pool = [s.scaled_score for s in result] + list(result.existing.values())
    mean = sum(pool) / len(pool)
    return best if best.scaled_score > threshold * mean else None
