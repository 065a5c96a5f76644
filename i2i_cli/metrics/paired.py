"""Paired image metrics as EGSDE's ``tool/mse_psnr_ssim_mssim.py`` computes them (egsde.md §7).

Every function takes two (N, C, H, W) batches in [0, 1] and returns one value per image:
MSE and PSNR in float64, SSIM, MS-SSIM and L2 in the inputs' dtype (float32 from ToTensor).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K = (0.01, 0.03)
"""Gaussian window size and sigma, and the stabilising constants K₁, K₂ (Wang et al. 2004)."""

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Per-scale exponents of MS-SSIM (Wang, Simoncelli and Bovik 2003, Table 1)."""

PSNR_EPS = 1e-10
"""Added to the MSE before the logarithm, as EGSDE's ``psnr``."""


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    """ValueError unless ``x`` and ``y`` are (N, C, H, W) batches of one shape and dtype."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"expected two (N, C, H, W) batches of one shape, got {x.shape}, {y.shape}"
        )
    if x.dtype != y.dtype:
        raise ValueError(f"expected batches of one dtype, got {x.dtype} and {y.dtype}")


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared difference, in float64."""
    _check_pair(x, y)
    return (x.double() - y.double()).pow(2).mean(dim=(1, 2, 3))


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image ``10·log10(range² / (MSE + 1e-10))`` in float64."""
    return 10.0 * torch.log10(data_range**2 / (mse(x, y) + PSNR_EPS))


def l2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image Euclidean norm ``‖x - y‖₂`` over all C·H·W values (EGSDE's "L2", not a mean)."""
    _check_pair(x, y)
    return torch.linalg.vector_norm((x - y).flatten(1), ord=2, dim=1)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised 1-D Gaussian of ``size`` taps centred on the middle one (float32)."""
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    window = torch.exp(-(coords**2) / (2 * sigma**2))
    return window / window.sum()


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian blur of each channel (no padding; a dimension shorter than
    the window is left unblurred, as the reference does)."""
    channels = x.shape[1]
    taps = window.to(device=x.device, dtype=x.dtype)
    for axis in (2, 3):
        if x.shape[axis] < taps.numel():
            continue
        shape = [channels, 1, 1, 1]
        shape[axis] = taps.numel()
        x = F.conv2d(x, taps.repeat(channels, 1).reshape(shape), groups=channels)
    return x


def _ssim_terms(
    x: torch.Tensor, y: torch.Tensor, data_range: float, window: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel SSIM and contrast-structure means, each (N, C) (Wang et al. 2004, eq. 13)."""
    c1 = (SSIM_K[0] * data_range) ** 2
    c2 = (SSIM_K[1] * data_range) ** 2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    mu_xx, mu_yy, mu_xy = mu_x.pow(2), mu_y.pow(2), mu_x * mu_y
    var_x = _blur(x * x, window) - mu_xx
    var_y = _blur(y * y, window) - mu_yy
    cov_xy = _blur(x * y, window) - mu_xy
    contrast_structure = (2 * cov_xy + c2) / (var_x + var_y + c2)
    ssim_map = ((2 * mu_xy + c1) / (mu_xx + mu_yy + c1)) * contrast_structure
    return ssim_map.flatten(2).mean(-1), contrast_structure.flatten(2).mean(-1)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM: Gaussian 11/1.5 window, valid convolution, mean over map then channels."""
    _check_pair(x, y)
    per_channel, _ = _ssim_terms(x, y, data_range, gaussian_window())
    return per_channel.mean(1)


def ms_ssim_min_side(window: int = SSIM_WINDOW, levels: int = len(MS_SSIM_WEIGHTS)) -> int:
    """The smallest image side MS-SSIM accepts: more than (window - 1)·2^(levels - 1)."""
    return (window - 1) * 2 ** (levels - 1) + 1


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image MS-SSIM: ∏ relu(cs_j)^w_j over 4 scales times relu(SSIM)^w_5 at the coarsest,
    with 2x2 average pooling between scales, then the mean over channels."""
    _check_pair(x, y)
    if min(x.shape[-2:]) < ms_ssim_min_side():
        raise ValueError(
            f"MS-SSIM needs images of at least {ms_ssim_min_side()} px a side, got {x.shape[-2:]}"
        )
    window = gaussian_window()
    weights = x.new_tensor(MS_SSIM_WEIGHTS)
    factors = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        per_channel, contrast_structure = _ssim_terms(x, y, data_range, window)
        if level < len(MS_SSIM_WEIGHTS) - 1:
            factors.append(torch.relu(contrast_structure))
            padding = [side % 2 for side in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    factors.append(torch.relu(per_channel))
    stacked = torch.stack(factors, dim=0)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(1)
