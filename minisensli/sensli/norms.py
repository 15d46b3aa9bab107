"""How a multiplier (the averaged gradient G of a virtual weight) becomes a score.

fro          ||G||_F^2, the sum of squares (the reference's FNN/ResNet score)
fro_scaled   ||G||_F^2 / (number of entries) (the reference CNN default; fair across layer sizes)
spectral     the squared operator 2-norm of the linear map the weight defines:
             dense: the largest singular value of G, squared;
             conv: the largest singular value of the multi-channel convolution with kernel G on
             the site's H x W feature map, with periodic boundary (a corrected version of the
             reference's buggy 'op22'): the 2-D FFT of G zero-padded to (H, W) gives, per
             frequency, an out x in matrix; the operator norm is the largest of their
             singular values. On maps smaller than the kernel, taps that wrap onto the same
             pixel act together, so the kernel is first folded (tap (p, q) added at
             (p mod H, q mod W)) before the FFT.
per_parameter  (sum over ALL virtual parameters of ||G||_F^2) / (number of parameters the
             insertion adds): the first-order loss decrease that one gradient step of unit
             size on the freed parameters promises (dL = -lr sum ||G||^2), per added parameter.
             It makes sites of different kinds and sizes comparable (a depth site adds
             w^2 + w parameters, a width site k (in + 1 + out)); computed by
             sensitivities(), which knows the whole site (not by score(), which sees one weight).
             Invariant under permutations of hidden units (see tests/test_sensli_width.py).
"""

from __future__ import annotations

from typing import Any

from .. import backend

NORMS = ("fro", "fro_scaled", "spectral")  # norms of one multiplier (score() computes them)
SITE_SCORES = (*NORMS, "per_parameter")  # what sensitivities(norm=...) accepts


def _host_float(value: Any) -> float:
    """A 0-d result as a Python float: the one explicit copy from the device per score."""
    return backend.scalars_to_host([value])[0]


def default_norm(kind: str) -> str:
    """'fro_scaled' for conv sites (layer sizes differ per stage), 'fro' otherwise (as the reference)."""
    return "fro_scaled" if kind in ("conv", "residual_conv") else "fro"


def spectral_norm_squared(weight: Any, feature_shape: tuple[int, int] | None = None) -> float:
    """Squared operator 2-norm of a dense weight (out, in) or a conv kernel (out, in, kh, kw)
    acting on feature maps of ``feature_shape`` (H, W) with periodic boundary."""
    xp = backend.get_array_module(weight)
    if weight.ndim == 2:
        return _host_float(xp.linalg.norm(weight, 2)) ** 2
    if feature_shape is None:
        raise ValueError("spectral norm of a convolution kernel needs the feature map shape (H, W)")
    height, width = feature_shape
    kh, kw = weight.shape[2:]
    folded = xp.zeros(weight.shape[:2] + (height, width), dtype=weight.dtype)
    for p in range(kh):
        for q in range(kw):
            folded[:, :, p % height, q % width] += weight[:, :, p, q]
    spectrum = xp.fft.fft2(folded, axes=(2, 3))  # (O, C, H, W)
    per_frequency = spectrum.transpose(2, 3, 0, 1)  # (H, W, O, C)
    return _host_float(xp.linalg.svd(per_frequency, compute_uv=False).max()) ** 2


def score(weight: Any, norm: str, feature_shape: tuple[int, int] | None = None) -> float:
    """The score of an averaged multiplier ``weight`` under ``norm`` (see module docstring)."""
    if norm == "fro":
        return _host_float((weight * weight).sum())
    if norm == "fro_scaled":
        return _host_float((weight * weight).sum()) / weight.size
    if norm == "spectral":
        return spectral_norm_squared(weight, feature_shape)
    if norm == "per_parameter":
        raise ValueError("the per_parameter score needs every multiplier of a site: use sensitivities(norm=...)")
    raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")
