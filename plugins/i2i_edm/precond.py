"""EDM's preconditioners D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) (Karras et al. 2022,
Table 1; ``training/networks.py``; spec dg.md §2).

Each preconditioner is one small class: its own constructor arguments as a table of class
attributes (name, type, EDM's default; ``arguments.py``) and its c_skip, c_out, c_in and c_noise
written line by line as the paper's table does. They share one constructor and one forward
(``Precond``), which wraps the network as ``self.model`` (so state-dict keys start with
``model.``). ``x`` and ``sigma`` are cast to float32 first; the network runs in float16 only
when ``use_fp16`` and on CUDA; D is float32.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from i2i_edm.arguments import assign
from i2i_edm.dhariwal_unet import DhariwalUNet
from i2i_edm.song_unet import SongUNet

Coefficient = torch.Tensor | float
Coefficients = tuple[Coefficient, Coefficient, Coefficient, torch.Tensor]
"""(c_skip, c_out, c_in, c_noise): numbers where Table 1 has a constant."""

NETWORKS: dict[str, type[nn.Module]] = {"SongUNet": SongUNet, "DhariwalUNet": DhariwalUNet}
"""The ``model_type`` names EDM's preconditioners accept."""


def network(model_type: str, **kwargs: Any) -> nn.Module:
    """The network EDM's ``globals()[model_type](**kwargs)`` builds."""
    if model_type not in NETWORKS:
        raise ValueError(f"model_type must be one of {', '.join(NETWORKS)}, not {model_type!r}")
    return NETWORKS[model_type](**kwargs)


def vp_sigma(t: torch.Tensor | float, beta_d: float, beta_min: float) -> torch.Tensor:
    """VP sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1) (dtype of ``t``; floats: fp32)."""
    t = t if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=torch.float32, device="cpu")
    return ((0.5 * beta_d * (t**2) + beta_min * t).exp() - 1).sqrt()


def iddpm_alpha_bar(j: torch.Tensor | int, C_2: float, M: int) -> torch.Tensor:
    """iDDPM's cosine alpha_bar(j) = sin^2(pi/2 * j / M / (C_2 + 1)) (EDM Table 1)."""
    j = j if isinstance(j, torch.Tensor) else torch.tensor(j, device="cpu")
    return (0.5 * math.pi * j / M / (C_2 + 1)).sin() ** 2


def iddpm_levels(C_1: float, C_2: float, M: int) -> torch.Tensor:
    """The M + 1 noise levels u_j of iDDPM, u_M = 0, in float32 (EDM Table 1)."""
    u = torch.zeros(M + 1, device="cpu")
    for j in range(M, 0, -1):  # u_{j-1} from u_j, j = M..1
        ratio = (iddpm_alpha_bar(j - 1, C_2, M) / iddpm_alpha_bar(j, C_2, M)).clip(min=C_1)
        u[j - 1] = ((u[j] ** 2 + 1) / ratio - 1).sqrt()
    return u


class Precond(nn.Module):
    """What the four preconditioners share: the constructor, casting, labels, the forward.

    A subclass declares its own arguments as annotated class attributes (``model_type``, the
    network it builds by default, among them); the constructor sets them from the call, passes
    every other keyword to the network, then lets the class derive its sigma range.
    """

    output_factor = 1
    """The network's output channels per image channel."""

    model_type: str
    sigma_min: float
    sigma_max: float

    def __init__(
        self,
        img_resolution: int,  # image side
        img_channels: int,  # colour channels
        label_dim: int = 0,  # class-label dimensionality, 0 = unconditional
        use_fp16: bool = False,  # run the network in float16 on CUDA
        **kwargs: Any,  # the class's own arguments (its table), then the network's
    ) -> None:
        super().__init__()
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.label_dim = label_dim
        self.use_fp16 = use_fp16
        model_kwargs = assign(self, Precond, kwargs)
        self.model = network(
            self.model_type,
            img_resolution=img_resolution,
            in_channels=img_channels,
            out_channels=self.output_factor * img_channels,
            label_dim=label_dim,
            **model_kwargs,
        )
        self.derive_sigma_range()

    def derive_sigma_range(self) -> None:
        """Set ``sigma_min``/``sigma_max`` where the class derives them (VE and EDM take them)."""

    def inputs(
        self, x: torch.Tensor, sigma: torch.Tensor | float, class_labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x and sigma in float32 (sigma as [-1,1,1,1]); labels, all-zero [1, label_dim] if None."""
        x = x.to(torch.float32)
        sigma = torch.as_tensor(sigma, device=x.device).to(torch.float32).reshape(-1, 1, 1, 1)
        if self.label_dim == 0:
            labels = None
        elif class_labels is None:
            labels = torch.zeros([1, self.label_dim], device=x.device)
        else:
            labels = class_labels.to(torch.float32).reshape(-1, self.label_dim)
        return x, sigma, labels

    def network_dtype(self, x: torch.Tensor, force_fp32: bool) -> torch.dtype:
        """float16 when trained with use_fp16 and running on CUDA, else float32."""
        fp16 = self.use_fp16 and not force_fp32 and x.device.type == "cuda"
        return torch.float16 if fp16 else torch.float32

    def round_sigma(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """The noise levels the network supports: every sigma (identity), as a tensor."""
        return torch.as_tensor(sigma)

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        """c_skip, c_out, c_in, c_noise of this preconditioner (EDM Table 1)."""
        raise NotImplementedError

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor | float,
        class_labels: torch.Tensor | None = None,
        augment_labels: torch.Tensor | None = None,
        force_fp32: bool = False,
    ) -> torch.Tensor:
        """D(x; sigma) = c_skip x + c_out F(c_in x; c_noise), float32 (EDM Table 1).

        F's first ``img_channels`` output channels (iDDPM's network has twice as many).
        """
        x, sigma, class_labels = self.inputs(x, sigma, class_labels)
        dtype = self.network_dtype(x, force_fp32)
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        F_x = self.model((c_in * x).to(dtype), c_noise.flatten(), class_labels, augment_labels)
        return c_skip * x + c_out * F_x[:, : self.img_channels].to(torch.float32)


class VPPrecond(Precond):
    """Variance-preserving preconditioning (Song et al. 2021, DDPM++; EDM Table 1)."""

    beta_d: float = 19.9  # extent of the noise level schedule
    beta_min: float = 0.1  # initial slope of the noise level schedule
    M: int = 1000  # original number of timesteps of the DDPM formulation
    epsilon_t: float = 1e-5  # minimum t of the VP schedule
    model_type: str = "SongUNet"  # network class

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        """c_skip, c_out, c_in, c_noise at sigma [-1, 1, 1, 1] (EDM Table 1, VP column)."""
        c_skip = 1
        c_out = -sigma
        c_in = 1 / (sigma**2 + 1).sqrt()
        c_noise = (self.M - 1) * self.sigma_inv(sigma)
        return c_skip, c_out, c_in, c_noise

    def derive_sigma_range(self) -> None:
        """sigma(epsilon_t) and sigma(1), computed in float32 (sigma_min 0.0009765625)."""
        self.sigma_min = float(self.sigma(self.epsilon_t))
        self.sigma_max = float(self.sigma(1))

    def sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        """sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1) (dtype of ``t``; floats: fp32)."""
        return vp_sigma(t, self.beta_d, self.beta_min)

    def sigma_inv(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """t(sigma) = (sqrt(beta_min^2 + 2 beta_d ln(1 + sigma^2)) - beta_min) / beta_d."""
        sigma = torch.as_tensor(sigma)
        root = (self.beta_min**2 + 2 * self.beta_d * (1 + sigma**2).log()).sqrt()
        return (root - self.beta_min) / self.beta_d


class VEPrecond(Precond):
    """Variance-exploding preconditioning (Song et al. 2021, NCSN++; EDM Table 1)."""

    sigma_min: float = 0.02  # minimum supported noise level
    sigma_max: float = 100.0  # maximum supported noise level
    model_type: str = "SongUNet"  # network class

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        """c_skip, c_out, c_in, c_noise at sigma [-1, 1, 1, 1] (EDM Table 1, VE column)."""
        c_skip = 1
        c_out = sigma
        c_in = 1
        c_noise = (0.5 * sigma).log()
        return c_skip, c_out, c_in, c_noise


class EDMPrecond(Precond):
    """EDM's own preconditioning (Karras et al. 2022, Table 1, "ours" column)."""

    sigma_min: float = 0.0  # minimum supported noise level
    sigma_max: float = math.inf  # maximum supported noise level
    sigma_data: float = 0.5  # expected standard deviation of the training data
    model_type: str = "DhariwalUNet"  # network class

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        """c_skip, c_out, c_in, c_noise at sigma [-1, 1, 1, 1] (EDM Table 1, "ours")."""
        sigma_data = self.sigma_data

        c_skip = sigma_data**2 / (sigma**2 + sigma_data**2)
        c_out = sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()
        c_in = 1 / (sigma_data**2 + sigma**2).sqrt()
        c_noise = sigma.log() / 4
        return c_skip, c_out, c_in, c_noise


class iDDPMPrecond(Precond):
    """Improved-DDPM preconditioning (Nichol & Dhariwal 2021; EDM Table 1), 2C output channels."""

    output_factor = 2

    C_1: float = 0.001  # timestep adjustment at low noise levels
    C_2: float = 0.008  # timestep adjustment at high noise levels
    M: int = 1000  # original number of timesteps of the DDPM formulation
    model_type: str = "DhariwalUNet"  # network class

    def coefficients(self, sigma: torch.Tensor) -> Coefficients:
        """c_skip, c_out, c_in, c_noise at sigma [-1, 1, 1, 1] (EDM Table 1, iDDPM column)."""
        c_skip = 1
        c_out = -sigma
        c_in = 1 / (sigma**2 + 1).sqrt()
        c_noise = self.M - 1 - self.sigma_index(sigma).to(torch.float32)
        return c_skip, c_out, c_in, c_noise

    def derive_sigma_range(self) -> None:
        """The levels u_0 > ... > u_M (buffer ``u``); sigma_min u_{M-1}, sigma_max u_0."""
        u = iddpm_levels(self.C_1, self.C_2, self.M)
        self.register_buffer("u", u)
        self.sigma_min = float(u[self.M - 1])
        self.sigma_max = float(u[0])

    def alpha_bar(self, j: torch.Tensor | int) -> torch.Tensor:
        """alpha_bar(j) = sin^2(pi/2 * j / M / (C_2 + 1))."""
        return iddpm_alpha_bar(j, self.C_2, self.M)

    def sigma_index(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """Index j of the nearest u_j to each sigma, shaped like sigma."""
        sigma = torch.as_tensor(sigma)
        flat = sigma.to(self.u.device).to(torch.float32).reshape(1, -1, 1)
        index = torch.cdist(flat, self.u.reshape(1, -1, 1)).argmin(2)
        return index.reshape(sigma.shape).to(sigma.device)

    def round_sigma(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """The nearest supported level u_j to each sigma, in sigma's dtype."""
        sigma = torch.as_tensor(sigma)
        index = self.sigma_index(sigma).to(self.u.device)
        return self.u[index.flatten()].to(sigma.dtype).reshape(sigma.shape).to(sigma.device)
