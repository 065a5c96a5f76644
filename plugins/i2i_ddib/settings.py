"""Every settings model of the DDIB plugin (torch-free; ddib.md §1-3): the ``ddib`` method, the
``ddib-2d`` backbone (``create_model_and_diffusion_2d``'s flags; defaults are the official
synthetic checkpoints', README flags ``--num_res_blocks 3 --diffusion_steps 4000``, §2.2) and
the ``ddib-2d`` trainer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from i2i_cli.api.setting_conflicts import Conflict, check_conflicts
from i2i_cli.api.settings import Settings, SettingsError
from i2i_cli.diffusion.process_settings import DiscreteProcessSettings
from i2i_cli.run.energy_terms import EnergyTerm
from i2i_cli.run.model_choice import BackboneChoice

GROUPS = 32
"""GroupNorm32's group count: every block width must be a multiple of it."""


class Synthetic2DSettings(DiscreteProcessSettings):
    """The 2-D ``SyntheticModel`` and the schedule its integer timesteps index (ddib.md §2.2)."""

    in_channels: int = Field(
        2, ge=1, le=64, description="Point dimension; the output (eps) has the same width."
    )
    num_channels: int = Field(
        256,
        ge=32,
        le=4096,
        description="Block width C (multiple of 32; below 96 float32 round-off turns chaotic).",
    )
    num_res_blocks: int = Field(
        3, ge=1, le=16, description="Residual blocks on the input and on the output side."
    )
    dropout: float = Field(0.2, ge=0.0, le=1.0, description="Dropout in residual blocks.")
    diffusion_steps: int = Field(
        4000, ge=1, le=100_000, description="Steps T of the schedule the timesteps 0..T-1 index."
    )

    @field_validator("num_channels")
    @classmethod
    def _whole_groups(cls, value: int) -> int:
        """GroupNorm needs the width to split into 32 equal groups."""
        if value % GROUPS:
            raise ValueError(f"must be a multiple of {GROUPS}")
        return value


SAMPLER_ONLY_FLAGS = frozenset(
    {
        "timestep_respacing",
        "use_kl",
        "rescale_timesteps",
        "rescale_learned_sigmas",
        "use_checkpoint",
        "use_fp16",
    }
)
"""``create_model_and_diffusion_2d`` flags that do not change the network or its time input."""


def settings_from_flags(flags: Mapping[str, Any]) -> Synthetic2DSettings:
    """The settings of the reference's ``create_model_and_diffusion_2d(**flags)`` call.

    The 2-D model always outputs ``in_channels`` eps values, so ``learn_sigma`` and
    ``predict_xstart`` must be off (the reference would build a network that cannot serve them).
    """
    for flag in ("learn_sigma", "predict_xstart"):
        if flags.get(flag, False):
            raise ValueError(f"the 2-D model predicts eps only; {flag}=True is not supported")
    known = set(Synthetic2DSettings.model_fields) | SAMPLER_ONLY_FLAGS
    known |= {"learn_sigma", "predict_xstart"}
    unknown = sorted(set(flags) - known)
    if unknown:
        raise ValueError(f"unknown create_model_and_diffusion_2d flags: {', '.join(unknown)}")
    return Synthetic2DSettings(
        **{name: value for name, value in flags.items() if name in Synthetic2DSettings.model_fields}
    )


Solver = Literal["ddim", "dpmpp2m"]

ONE_MODEL = (
    "--checkpoint is one class-conditional model for both domains, --source-checkpoint and "
    "--target-checkpoint are one model per domain; give one or the other"
)
OFFICIAL = (
    "--official takes the official 2-D model of each domain (i2i download --exp synthetic); "
    "drop it to use your own models"
)
CONFLICTS = (
    Conflict("checkpoint", "source_checkpoint", ONE_MODEL),
    Conflict("checkpoint", "target_checkpoint", ONE_MODEL),
    Conflict("official", "source_checkpoint", OFFICIAL),
    Conflict("official", "target_checkpoint", OFFICIAL),
    Conflict(
        "official",
        "checkpoint",
        "--official is for the 2-D models, --checkpoint names one class-conditional image model",
    ),
)
"""Settings of ``DDIBSettings`` that contradict each other (ddib.md §1.7: the model modes)."""

POINT_BACKBONE = "ddib-2d"
IMAGE_MODEL_ON_POINTS = (
    "--checkpoint names one class-conditional image model and the backbone {backbone} takes "
    "2-D points: give --source-checkpoint and --target-checkpoint, or --official"
)


class DDIBSettings(BackboneChoice):
    """DDIB translation: encode with the source model's ODE, decode with the target model's.

    On the 2-D backbone (``ddib-2d``) ``--source``/``--target`` name data sets and the models
    are the bundled ones (or the official ones with ``--official``). On an image backbone they
    are class labels of one class-conditional model (``--checkpoint``, ImageNet) or the two
    models are given by ``--source-checkpoint``/``--target-checkpoint``. Both models' process
    comes from the backbone (``model.noise_schedule``, ``model.diffusion_steps``).
    """

    backbone: str = Field("ddib-2d", description="Registered backbone plugin (i2i plugins).")
    preset: str | None = Field(None, description="Backbone preset (image backbones).")
    checkpoint: str | None = Field(
        None, description="One class-conditional model for both domains (artifact or file)."
    )
    source: str = Field(
        "moons",
        description="Source domain: a 2-D data set (moons, checkerboards, rings, squares, "
        "parallel_rings, parallel_squares) or comma-separated class labels (260,261).",
    )
    target: str = Field(
        "concentric_squares",
        description="Target domain: a 2-D data set or class labels paired with --source.",
    )
    source_checkpoint: str | None = Field(
        None, description="Source-domain model (default: the bundled 2-D model of --source)."
    )
    target_checkpoint: str | None = Field(
        None, description="Target-domain model (default: the bundled 2-D model of --target)."
    )
    official: bool = Field(
        False,
        description="2-D: use the official checkpoints (i2i download --exp synthetic) "
        "instead of the bundled ones.",
    )
    solver: Solver = Field(
        "dpmpp2m",
        description="ODE solver of both passes: ddim (the reference) or dpmpp2m "
        "(DPM-Solver++(2M), same cycle error with far fewer steps).",
    )
    steps: int | None = Field(
        None,
        ge=2,
        le=100_000,
        description="Solver steps per pass (default: all T for ddim, 50 for dpmpp2m).",
    )
    spacing: Literal["auto", "time", "logsnr"] = Field(
        "auto",
        description="Where the steps sit: evenly in time (guided-diffusion's respacing) or "
        "in log-SNR; auto: time for ddim, logsnr for dpmpp2m.",
    )
    cycle: bool = Field(
        False, description="Translate back to the source and report the cycle error."
    )
    clip_denoised: bool = Field(
        False, description="Clamp the decoder's x0 estimates to [-1, 1] (ImageNet: on)."
    )
    energy: list[EnergyTerm] = Field(
        default_factory=list,
        description="Energies guiding the decoder toward the target, e.g. "
        "--energy classifier:weight=1 (ImageNet: the noisy classifier of the target class).",
        json_schema_extra={"cli_flag": "--energy"},
    )
    num_points: int = Field(
        3000,
        ge=12,
        le=10_000_000,
        description="2-D: source points drawn when no --input .npy is given "
        "(rounded down to what the data set allows).",
    )
    plot: bool = Field(True, description="2-D: write scatter plots (PNG) beside the .npy files.")

    @field_validator("source", "target")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        """A domain is named."""
        if not value.strip():
            raise ValueError("must name a data set or class labels")
        return value.strip()

    @model_validator(mode="after")
    def _no_conflicts(self) -> DDIBSettings:
        """One model mode at a time: the clash named in one line (``CONFLICTS``); no image
        model on the 2-D backbone (other backbones are checked once their input is known)."""
        check_conflicts(self, CONFLICTS)
        if self.backbone == POINT_BACKBONE and self.checkpoint:
            raise SettingsError(IMAGE_MODEL_ON_POINTS.format(backbone=self.backbone))
        return self


QUICK_RECIPE: dict[str, Any] = {
    "model": {"num_channels": 128, "num_res_blocks": 2, "dropout": 0.0},
    "steps": 8000,
    "batch_size": 1024,
    "lr": 1e-3,
    "ema_decay": 0.999,
    "warmup_steps": 100,
    "lr_schedule": "cosine",
    "num_points": 60_000,
    "timesteps": "log-snr",
    "export": "ema",
}
"""``--quick``: a smaller model at a higher rate, t uniform in log-SNR, the EMA exported (the
bundled models' recipe: 8000 steps, about 15 min on one CPU thread)."""

EMA_OFF = (
    "--export ema exports the EMA weights, and --ema-decay none turns EMA off: give an "
    "--ema-decay (the reference's is 0.9999) or --export raw"
)
"""``--export ema`` without an EMA to export."""


class DDIB2DTrainSettings(Settings):
    """Training a 2-D model on one data set (``synthetic_train.py`` + ``TrainLoop``; §2.3).

    Defaults are the official recipe; ``--quick`` replaces every option not given explicitly
    by ``QUICK_RECIPE``. The reference keeps an EMA at 0.9999 (``scripts/synthetic_train.py:64``)
    and saves it beside the raw weights (``guided_diffusion/train_util.py:231-245``), but its
    scripts load the raw ones, ``model*.pt`` (``scripts/common.py:20-34``, pitfall 17), so
    ``model.pt`` holds the raw weights unless ``--export ema``; the EMA stays in
    ``checkpoint.pt``, and ``--resume --export ema`` exports it later.
    """

    data: str = Field("moons", description="Data set to learn (moons, checkerboards, ...).")
    quick: bool = Field(
        False,
        description="The bundled models' recipe: small model, log-SNR t, 8000 steps, EMA exported.",
    )
    model: dict[str, Any] = Field(
        default_factory=dict,
        description="ddib-2d settings (num_channels, num_res_blocks, dropout, ...).",
    )
    num_points: int = Field(
        300_000, ge=12, le=100_000_000, description="Training set size (reference: 300000)."
    )
    steps: int = Field(50_000, ge=1, le=100_000_000, description="Optimiser steps.")
    batch_size: int = Field(20_000, ge=1, le=1_000_000, description="Points per step.")
    lr: float = Field(1e-4, gt=0.0, le=1.0, description="AdamW learning rate.")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="Rate over the run: constant (the reference) or cosine to 0."
    )
    timesteps: Literal["uniform", "log-snr"] = Field(
        "uniform",
        description="How t is drawn: uniform over the T steps (the reference) or uniform in "
        "log-SNR (more of the low-noise steps that make the bands sharp).",
    )
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_steps: int = Field(0, ge=0, le=1_000_000, description="Linear warmup steps.")
    ema_decay: float | None = Field(
        0.9999,
        ge=0.0,
        lt=1.0,
        description="EMA decay of the averaged weights, kept in checkpoint.pt (none: off).",
    )
    export: Literal["raw", "ema"] = Field(
        "raw",
        description="Weights model.pt holds: raw (what the reference's scripts sample) or ema "
        "(the --ema-decay average).",
    )
    grad_clip: float | None = Field(None, gt=0.0, description="Max gradient norm (none: off).")
    checkpoint_every: int = Field(
        1000, ge=1, le=100_000_000, description="Steps between checkpoints."
    )

    @model_validator(mode="before")
    @classmethod
    def _quick_recipe(cls, data: Any) -> Any:
        """``--quick``: every option not given takes its ``QUICK_RECIPE`` value (``model``
        merged key by key), so the run's record holds the recipe it ran. With EMA turned off
        (``--ema-decay none``) it exports the raw weights, there being no average."""
        if not isinstance(data, dict) or not data.get("quick"):
            return data
        resolved = {name: value for name, value in QUICK_RECIPE.items() if name not in data}
        if "ema_decay" in data and data["ema_decay"] is None and "export" not in data:
            resolved["export"] = "raw"
        resolved["model"] = {**QUICK_RECIPE["model"], **dict(data.get("model") or {})}
        return {**data, **resolved}

    @model_validator(mode="after")
    def _ema_to_export(self) -> DDIB2DTrainSettings:
        """``--export ema`` needs an EMA to export."""
        if self.export == "ema" and self.ema_decay is None:
            raise SettingsError(EMA_OFF)
        return self


def synthetic_spec(settings: Synthetic2DSettings) -> Any:
    """eps with a fixed variance; called with the integer timestep 0..T-1, unscaled.

    ``input_shape`` is the point shape ``(in_channels,)``: a sampler draws ``(batch, 2)``.
    """
    from i2i_cli.diffusion.denoiser import DiscreteProcess, ModelSpec

    return ModelSpec(
        target="eps",
        process=DiscreteProcess(settings.noise_schedule, settings.diffusion_steps),
        channels=settings.in_channels,
        input_shape=(settings.in_channels,),
    )


def architecture_of(state_dict: Mapping[str, Any]) -> dict[str, int]:
    """The width C, depth R and point dimension a 2-D state dict was built with (its shapes).

    Empty when the keys are not a SyntheticModel's (loading then reports the mismatch).
    """
    first = state_dict.get("input_blocks.0.0.weight")
    if first is None or len(getattr(first, "shape", ())) != 2:
        return {}
    depth = {key.split(".")[2] for key in state_dict if key.startswith("input_blocks.1.")}
    return {
        "num_channels": int(first.shape[0]),
        "in_channels": int(first.shape[1]),
        "num_res_blocks": len(depth),
    }
