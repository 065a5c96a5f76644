"""Settings of DDIB's 2-D model: ``create_model_and_diffusion_2d``'s flags (torch-free).

Defaults are the official synthetic checkpoints' (README flags ``--num_res_blocks 3
--diffusion_steps 4000`` over ``model_and_diffusion_defaults_2d``; spec ddib.md §2.2).
``build_synthetic_model`` and ``synthetic_spec`` import torch inside their bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from i2i_cli.diffusion.process_settings import DiscreteProcessSettings

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


def build_synthetic_model(settings: Synthetic2DSettings) -> Any:
    """The 2-D ``SyntheticModel`` of ``settings`` (fresh weights, reference initialisation)."""
    from i2i_ddib.model2d import SyntheticModel

    return SyntheticModel(
        in_channels=settings.in_channels,
        model_channels=settings.num_channels,
        out_channels=settings.in_channels,
        num_res_blocks=settings.num_res_blocks,
        dropout=settings.dropout,
    )


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
