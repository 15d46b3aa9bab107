# %% [markdown]
# # Appendix A — The spectral norm of a convolution
#
# *Reading time: about 15 min.*
#
# *Optional.* Chapter 8 scores a site by the squared Frobenius norm of its averaged multiplier
# $\bar G$, or by that norm per entry. The package offers a third score, `"spectral"`: the squared
# largest singular value of the linear map that $\bar G$ defines. For a dense weight that is the
# matrix itself; for a convolution kernel it is not, and this appendix derives how the package
# computes it — with the fast Fourier transform, one small SVD per frequency — and checks it
# against the explicit matrix of the operator.
#
# **You need** chapter 4 (convolutions as correlations, padding) and chapter 8 (multipliers and
# scores). **Package module**: `minisensli/sensli/norms.py` (`spectral_norm_squared`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
import minisensli.functional as F
from minisensli import data, nn, sensli

ms.set_default_dtype("float64")

# %% [markdown]
# ## 1. From a kernel to an operator
#
# A convolution kernel $\bar G$ of shape $(O, C, 3, 3)$ is not the matrix that acts on the data;
# the linear map is "correlate a $C \times H \times W$ feature map with this kernel", an
# $(O H W) \times (C H W)$ matrix. Its largest singular value is the natural operator norm, but
# building that matrix and computing its SVD costs far too much for a real layer. The trick:
# take **periodic boundary** (wrap around instead of zero padding),
# $y_o[u, v] = \sum_{i,p,q} K[o,i,p,q]\, x_i[(u+p-1) \bmod H,\ (v+q-1) \bmod W]$.
# Then the map commutes with cyclic shifts, and a Fourier mode
# $x_i[u, v] = c_i\, e^{2\pi \mathrm{i}(ku/H + lv/W)}$ comes out as the same mode with coefficients
#
# $$y_o = \sum_i \hat K_{kl}[o, i]\, c_i, \qquad
#   \hat K_{kl}[o, i] = \sum_{p,q} K[o,i,p,q]\, e^{2\pi \mathrm{i}(k(p-1)/H + l(q-1)/W)} .$$
#
# Up to a unit phase and a complex conjugation (neither changes singular values), $\hat K_{kl}$
# is the 2-D DFT of the kernel **zero-padded to $H \times W$** at frequency $(k, l)$. The normalised
# Fourier modes are an orthonormal basis, so in that basis the operator is block diagonal with one
# $O \times C$ block per frequency: its singular values are the union of the blocks' singular values,
# and the spectral score is the largest of them, squared. That is `sensli.spectral_norm_squared`:
# $HW$ small SVDs instead of one huge one. (On maps smaller than the kernel, $H < 3$ or $W < 3$,
# several taps wrap onto the same pixel and act together: the package first adds them up, folding
# the kernel to $H \times W$, before the FFT.)
#
# We rebuild it and check it against the **explicit matrix** of the periodic operator, built
# column by column: column $j$ is the operator applied to the $j$-th unit vector. The periodic
# correlation itself is the package's `F.conv2d` on an input padded by wrapping around.


# %%
def periodic_correlation(kernel, x):
    """(C, H, W) -> (O, H, W): the 3x3 'same' correlation with wrap-around instead of zero padding."""
    wrapped = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="wrap")
    return F.conv2d(ms.Tensor(wrapped[None]), ms.Tensor(kernel)).data[0]


def operator_matrix(kernel, shape):
    """The (O*H*W, C*H*W) matrix of periodic_correlation on C x H x W maps, one column per unit vector."""
    n = kernel.shape[1] * shape[0] * shape[1]
    columns = [periodic_correlation(kernel, np.eye(n)[j].reshape(-1, *shape)).ravel() for j in range(n)]
    return np.stack(columns, axis=1)


def singular_values_by_fft(kernel, shape):
    """Singular values of every frequency's O x C block: the 2-D DFT of the zero-padded kernel."""
    blocks = np.fft.fft2(kernel, s=shape, axes=(2, 3)).transpose(2, 3, 0, 1)  # (H, W, O, C)
    return np.linalg.svd(blocks, compute_uv=False).ravel()


# %% [markdown]
# A random kernel with $O = 3$, $C = 2$ on $4 \times 5$ maps: the matrix is $60 \times 40$, with
# $40$ singular values; $20$ frequencies with two singular values each give the same $40$.

# %%
kernel = np.random.default_rng(2).standard_normal((3, 2, 3, 3))
shape = (4, 5)
matrix = operator_matrix(kernel, shape)
x = np.random.default_rng(3).standard_normal((2, *shape))
np.testing.assert_allclose(matrix @ x.ravel(), periodic_correlation(kernel, x).ravel(), rtol=1e-12)

explicit = np.sort(np.linalg.svd(matrix, compute_uv=False))
by_fft = np.sort(singular_values_by_fft(kernel, shape))
print(f"matrix {matrix.shape}: {explicit.size} singular values; by FFT: {by_fft.size}")
np.testing.assert_allclose(by_fft, explicit, rtol=1e-10)
print(
    f"largest squared: explicit {explicit[-1] ** 2:.10f}, by FFT {by_fft[-1] ** 2:.10f}, "
    f"package {sensli.spectral_norm_squared(kernel, shape):.10f}"
)
np.testing.assert_allclose(sensli.spectral_norm_squared(kernel, shape), explicit[-1] ** 2, rtol=1e-10)

# %% [markdown]
# %% [markdown]
# ## 2. A real multiplier
#
# The same holds for a real multiplier: chapter 8's CNN (two conv stages with 2 and 6 channels),
# scored on 128 handwritten digits (8×8 images) in two minibatches. A `SiteScore` at a conv site
# records the feature-map size it saw (`feature_shape`), which the spectral norm needs: $8 \times 8$
# before the first pooling, $4 \times 4$ after it.

# %%
ms.manual_seed(0)
cnn = nn.Sequential(
    nn.Conv2d(1, 2, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(2, 6, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Dense(24, 10),
)

digits = data.digits()
digit_x, digit_y = digits.train[:128]
digit_loader = data.DataLoader(data.TensorDataset(digit_x, digit_y), batch_size=64)
by_norm = {norm: sensli.sensitivities(cnn, digit_loader, norm=norm) for norm in ("fro", "fro_scaled", "spectral")}

for entry in by_norm["spectral"]:
    g = entry.multipliers["weight"]
    explicit = np.linalg.norm(operator_matrix(g, entry.feature_shape), 2) ** 2
    print(
        f"{entry.site.label}: kernel {g.shape} on {entry.feature_shape} maps, spectral score "
        f"{entry.score:.6e}, explicit matrix {explicit:.6e}"
    )
    np.testing.assert_allclose(entry.score, explicit, rtol=1e-10)

# %% [markdown]
# ## 3. Which site each norm chooses
#
# Chapter 8 found that the squared Frobenius norm chooses the bigger site (`conv@5`, 324 entries)
# and the per-entry score the smaller one (`conv@2`, 36 entries). The spectral norm measures the
# largest gain of the operator, which also grows with the number of channels it sums over:

# %%
chosen = {norm: sensli.select(result_n, "abs max").site.label for norm, result_n in by_norm.items()}
for norm, result_n in by_norm.items():
    print(f"{norm:10s} scores {[f'{s:.2e}' for s in result_n.scores()]} -> chooses {chosen[norm]}")
assert chosen == {"fro": "conv@5", "fro_scaled": "conv@2", "spectral": "conv@5"}

fig, ax = plt.subplots(figsize=(7, 4))
names = {
    "fro": "squared Frobenius norm",
    "fro_scaled": "squared Frobenius norm / entries",
    "spectral": "squared spectral norm (periodic operator)",
}
for k, (norm, result_n) in enumerate(by_norm.items()):
    values = np.array(result_n.scores())
    ax.plot(np.arange(len(values)) + 0.1 * (k - 1), values / values.max(), "o", ms=9, color=f"C{k}", label=names[norm])
    best = int(np.argmax(values))
    ax.plot(best + 0.1 * (k - 1), 1.0, "o", ms=15, mfc="none", mec="k", mew=1.5)
ax.set_xticks(range(2), [entry.site.label for entry in by_norm["fro"]])
ax.set(xlim=(-0.5, 1.5), ylim=(0, 1.15), ylabel="score / largest score of that norm")
ax.set_title("three norms of the same multipliers (circled: chosen)")
ax.grid(axis="y", alpha=0.3)
ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# - A convolution kernel defines a linear map on feature maps; its spectral norm is the natural
#   operator norm, and with periodic boundary the map is block diagonal in the Fourier basis: one
#   $O \times C$ block per frequency, the 2-D DFT of the kernel zero-padded to the map size.
# - `sensli.spectral_norm_squared` takes the largest singular value over the $HW$ blocks and
#   squares it; we checked it against the SVD of the explicit operator matrix, for a random kernel
#   and for the multipliers of a real CNN.
# - Like the squared Frobenius norm, the spectral score prefers the bigger conv site here.
#
# ## Open question
#
# The spectral score uses the **periodic** convolution operator, but the layer actually pads with
# zeros. Build the zero-padded operator's matrix the same way (`F.conv2d` with `padding=1`) and
# compare its largest singular value with the periodic one as $H = W$ grows from 3 to 16. Where do
# they differ most, and could the difference change which site wins?
