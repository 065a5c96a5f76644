"""Every settings model of the EDM plugin (torch-free): the ``edm`` backbone (EDM's
preconditioner and network constructor arguments) and ``i2i sample edm``.

``sample edm``'s defaults are EDM's ``generate.py`` on ``edm-cifar10-32x32-uncond-vp.pkl``
(dg.md §3): 18 steps (35 network calls), deterministic; the task presets
``tasks/edm/<checkpoint>.toml`` give the README's settings of every official checkpoint. No
preset by default: an EDM pickle records its network, which decides what is built
(``i2i_cli.networks.backbones``); a preset given by a task, ``--config`` or ``--set preset=`` is
checked against the file.

Field names are EDM's keyword arguments (``training/networks.py``; spec dg.md §2, §2.4), so a
preset reads like the ``network_kwargs`` an official pickle records. A network argument left at
``None`` takes the default of the network class (SongUNet or DhariwalUNet), and
``sigma_min``/``sigma_max``/``model_type`` left at ``None`` take the preconditioner's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from i2i_cli.api.settings import Settings
from i2i_cli.run.karras_choice import KarrasChoice
from i2i_cli.run.model_choice import BackboneChoice
from i2i_cli.run.seeds import SeedOutput

PrecondName = Literal["vp", "ve", "edm", "iddpm"]
ModelType = Literal["SongUNet", "DhariwalUNet"]

PRECOND_CLASSES: dict[str, str] = {
    "vp": "VPPrecond",
    "ve": "VEPrecond",
    "edm": "EDMPrecond",
    "iddpm": "iDDPMPrecond",
}
"""EDM's preconditioner class of each ``precond`` name (EDM train.py's ``--precond``)."""

DEFAULT_MODEL_TYPE: dict[str, ModelType] = {
    "vp": "SongUNet",
    "ve": "SongUNet",
    "edm": "DhariwalUNet",
    "iddpm": "DhariwalUNet",
}
"""The network each preconditioner builds when ``model_type`` is not given (EDM's defaults)."""

PRECOND_FIELDS: dict[str, tuple[str, ...]] = {
    "vp": ("beta_d", "beta_min", "M", "epsilon_t"),
    "ve": ("sigma_min", "sigma_max"),
    "edm": ("sigma_min", "sigma_max", "sigma_data"),
    "iddpm": ("C_1", "C_2", "M"),
}
"""The preconditioner's own constructor arguments, by ``precond``."""

NETWORK_FIELDS: tuple[str, ...] = (
    "augment_dim",
    "model_channels",
    "channel_mult",
    "channel_mult_emb",
    "num_blocks",
    "attn_resolutions",
    "dropout",
    "label_dropout",
    "embedding_type",
    "channel_mult_noise",
    "encoder_type",
    "decoder_type",
    "resample_filter",
)
"""Network constructor arguments (``**model_kwargs``), passed on when not ``None``."""

SONG_ONLY_FIELDS: tuple[str, ...] = (
    "embedding_type",
    "channel_mult_noise",
    "encoder_type",
    "decoder_type",
    "resample_filter",
)
"""Arguments only SongUNet takes."""


class EdmSettings(Settings):
    """EDM's ``<Precond>(img_resolution, img_channels, label_dim, use_fp16, ..., model_type,
    **model_kwargs)`` as fields (dg.md §2, §2.1, §2.3)."""

    precond: PrecondName = Field(
        "edm",
        description="Preconditioning: edm (EDMPrecond, EDM train.py's default), vp, ve or iddpm "
        "(EDM Table 1).",
    )
    img_resolution: int = Field(32, ge=4, le=1024, description="Image side (power of two).")
    img_channels: int = Field(3, ge=1, le=16, description="Image colour channels.")
    label_dim: int = Field(
        0, ge=0, le=100_000, description="Class-label dimensionality (0 = unconditional)."
    )
    use_fp16: bool = Field(
        False, description="Run the network in float16 on CUDA (EDM's use_fp16; D stays fp32)."
    )
    model_type: ModelType | None = Field(
        None, description="Network class (None: SongUNet for vp/ve, DhariwalUNet for edm/iddpm)."
    )
    # VPPrecond (and M for iDDPMPrecond).
    beta_d: float = Field(19.9, gt=0, le=1000, description="VP: extent of the noise schedule.")
    beta_min: float = Field(0.1, ge=0, le=100, description="VP: initial slope of the schedule.")
    M: int = Field(
        1000, ge=2, le=100_000, description="VP/iDDPM: timesteps of the DDPM formulation."
    )
    epsilon_t: float = Field(1e-5, gt=0, lt=1, description="VP: minimum t of the schedule.")
    # VEPrecond / EDMPrecond.
    sigma_min: float | None = Field(
        None, ge=0, description="VE/EDM: lowest supported sigma (None: VE 0.02, EDM 0)."
    )
    sigma_max: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=True,  # inf: no upper bound, EDMPrecond's own default (NaN fails gt=0)
        description="VE/EDM: highest supported sigma (None: VE 100, EDM inf).",
    )
    sigma_data: float = Field(
        0.5, gt=0, le=100, description="EDM: standard deviation of the data (0.5)."
    )
    # iDDPMPrecond.
    C_1: float = Field(0.001, gt=0, lt=1, description="iDDPM: timestep adjustment, low noise.")
    C_2: float = Field(0.008, ge=0, lt=1, description="iDDPM: timestep adjustment, high noise.")
    # Network arguments (None: the network class's default).
    augment_dim: int | None = Field(
        None, ge=0, le=64, description="Augmentation-label width (official nets: 9 or 0)."
    )
    model_channels: int | None = Field(
        None, ge=4, le=1024, description="Base width (None: SongUNet 128, DhariwalUNet 192)."
    )
    channel_mult: list[int] | None = Field(
        None, description="Width multiplier per resolution (None: [1,2,2,2] / [1,2,3,4])."
    )
    channel_mult_emb: int | None = Field(
        None, ge=1, le=16, description="Embedding width multiplier (None: 4)."
    )
    num_blocks: int | None = Field(
        None, ge=1, le=16, description="Residual blocks per resolution (None: 4 / 3)."
    )
    attn_resolutions: list[int] | None = Field(
        None, description="Resolutions with self-attention (None: [16] / [32,16,8])."
    )
    dropout: float | None = Field(
        None, ge=0, lt=1, description="Dropout in the residual blocks (None: 0.10)."
    )
    label_dropout: float | None = Field(
        None, ge=0, lt=1, description="Training-time class-label dropout (None: 0)."
    )
    embedding_type: Literal["positional", "fourier"] | None = Field(
        None, description="SongUNet: positional (DDPM++) or fourier (NCSN++) noise embedding."
    )
    channel_mult_noise: int | None = Field(
        None, ge=1, le=16, description="SongUNet: noise-embedding width multiplier (1 / 2)."
    )
    encoder_type: Literal["standard", "skip", "residual"] | None = Field(
        None, description="SongUNet: standard (DDPM++) or residual (NCSN++) encoder."
    )
    decoder_type: Literal["standard", "skip"] | None = Field(
        None, description="SongUNet: standard decoder, or skip (aux output at every level)."
    )
    resample_filter: list[int] | None = Field(
        None, description="SongUNet: FIR resampling filter ([1,1] DDPM++, [1,3,3,1] NCSN++)."
    )
    init_seed: int = Field(
        0, ge=0, description="Seed of the initial weights (replaced when a checkpoint loads)."
    )

    @field_validator("img_resolution")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        """Each encoder level halves the side, so the side is a power of two."""
        if value & (value - 1):
            raise ValueError(f"must be a power of two, not {value}")
        return value

    @field_validator("channel_mult", "attn_resolutions", "resample_filter")
    @classmethod
    def _positive_list(cls, value: list[int] | None) -> list[int] | None:
        """A non-empty list of positive integers (or None: the network's default)."""
        if value is not None and (not value or min(value) < 1):
            raise ValueError(f"must list positive integers, not {value}")
        return value

    @field_validator("sigma_min", "sigma_max")
    @classmethod
    def _ve_or_edm(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Only VEPrecond and EDMPrecond take a sigma range (VP's and iDDPM's are derived)."""
        precond = info.data.get("precond", "edm")
        if value is not None and precond not in ("ve", "edm"):
            raise ValueError(f"{precond} derives its sigma range; only ve and edm take one")
        return value

    @field_validator(*SONG_ONLY_FIELDS)
    @classmethod
    def _song_only(cls, value: Any, info: ValidationInfo) -> Any:
        """DhariwalUNet takes no SongUNet-only argument."""
        precond = info.data.get("precond", "edm")
        model_type = info.data.get("model_type") or DEFAULT_MODEL_TYPE.get(precond, "SongUNet")
        if value is not None and model_type == "DhariwalUNet":
            raise ValueError(f"DhariwalUNet takes no {info.field_name} (SongUNet only)")
        return value

    @property
    def network_type(self) -> ModelType:
        """The network class the preconditioner wraps."""
        return self.model_type or DEFAULT_MODEL_TYPE[self.precond]

    def precond_kwargs(self) -> dict[str, Any]:
        """EDM's constructor arguments of the preconditioner, network arguments included."""
        kwargs: dict[str, Any] = {
            "img_resolution": self.img_resolution,
            "img_channels": self.img_channels,
            "label_dim": self.label_dim,
            "use_fp16": self.use_fp16,
            "model_type": self.network_type,
        }
        for name in PRECOND_FIELDS[self.precond]:
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        for name in NETWORK_FIELDS:
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = list(value) if isinstance(value, list) else value
        kwargs["init_seed"] = self.init_seed
        return kwargs


def network_name(settings: EdmSettings) -> str:
    """The network ``settings`` build, for people: ``EDMPrecond(SongUNet, 32x32, 10 labels)``."""
    side = settings.img_resolution
    labels = f"{settings.label_dim} labels" if settings.label_dim else "unconditional"
    return f"{PRECOND_CLASSES[settings.precond]}({settings.network_type}, {side}x{side}, {labels})"


def settings_from_edm(class_name: str, init_kwargs: Mapping[str, Any]) -> EdmSettings:
    """The settings of an EDM preconditioner recorded as ``class_name`` and its ``init_kwargs``.

    ``class_name`` may be qualified (``training.networks.VPPrecond``). A pickle's recorded
    keyword arguments validate as they are; an unknown class or argument is a ValueError.
    """
    short = class_name.rsplit(".", 1)[-1]
    names = {cls: name for name, cls in PRECOND_CLASSES.items()}
    if short not in names:
        raise ValueError(f"not an EDM preconditioner: {class_name} (known: {', '.join(names)})")
    data = {k: v for k, v in init_kwargs.items()}
    return EdmSettings.model_validate({"precond": names[short], **data})


DEFAULT_CHECKPOINT = "edm_cifar10_32x32_uncond_vp"
"""``i2i sample edm``'s default network: its artifact (``i2i download --exp edm``)."""


class EdmSampleSettings(BackboneChoice, KarrasChoice, SeedOutput):
    """EDM's deterministic/stochastic Heun sampler (Karras et al. 2022, Algorithm 2; dg.md §3)."""

    backbone: str = Field("edm", description="Registered sigma-time backbone (i2i plugins).")
    preset: str | None = Field(
        None,
        description="Backbone preset to check the checkpoint against (none: the file's own "
        "record decides; an artifact's manifest preset builds a plain state dict).",
    )
    checkpoint: str | None = Field(
        DEFAULT_CHECKPOINT,
        description="Weights: an artifact name from `i2i download --list`, or a file path "
        "(an EDM .pkl or a state dict).",
    )
    data: str | None = Field(
        None,
        description="On a 2-D model: the data set (concentric_rings, ...) the points are "
        "scored against (support precision, coverage, sliced Wasserstein).",
    )
    class_label: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="Class of every image of a conditional network (none: each seed draws its "
        "own, as EDM does).",
    )
