"""Settings every run of a command shares (the ``[run]`` table): where, on what, which seed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from i2i_cli.api.settings import Settings
from i2i_cli.io.output_format import OutputFormat


class RunSettings(Settings):
    """Options of every command that runs a plugin: where results go, which device computes."""

    output: Path | None = Field(
        None, description="Output folder (default: runs/<command>/<plugin>[-<task>])."
    )
    device: str = Field(
        "auto", description="Device: auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps."
    )


class SeededRun(RunSettings):
    """Options of commands that run networks and draw noise."""

    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description="Compute precision of the networks: fp32 (IEEE, TF32 off), bf16 or fp16 "
        "(guidance gradients stay fp32).",
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Run seed; each item's noise derives from it."
    )


class NetworkRun(SeededRun):
    """Options of commands that run loaded networks many times: compilation, memory layout."""

    compile: bool = Field(
        False,
        description="torch.compile the networks (first batches compile; a compile failure is "
        "one warning and the run continues eagerly).",
    )
    channels_last: bool = Field(
        False, description="Keep the networks' 4-D weights in channels_last memory format."
    )


class TranslateRun(NetworkRun):
    """Options of ``i2i translate <method>``."""

    input: Path | None = Field(
        None, description="Source image or folder (default: the method's embedded example, if any)."
    )
    batch_size: int = Field(8, ge=1, le=4096, description="Images per batch.")
    overwrite: bool = Field(False, description="Recompute outputs that already exist.")
    strict: bool = Field(
        False, description="Stop at the first unreadable image instead of skipping it."
    )
    output_format: OutputFormat = Field(
        "png",
        description="Result files: png (<name>.png, lossless) or source (the source's own name "
        "and format; a .jpg source gives a JPEG at quality 75, as EGSDE writes).",
    )


class SampleRun(NetworkRun):
    """Options of ``i2i sample <method>``."""

    num_samples: int = Field(16, ge=1, le=10_000_000, description="How many samples to draw.")
    batch_size: int = Field(8, ge=1, le=4096, description="Samples per batch.")
    overwrite: bool = Field(False, description="Recompute samples that already exist.")


class TrainRun(SeededRun):
    """Options of ``i2i train <trainer>``."""

    resume: bool = Field(
        False, description="Continue from the last checkpoint in the output folder."
    )


class EvaluateRun(RunSettings):
    """Options of ``i2i evaluate <metric>``; the JSON result goes to the output folder."""

    batch_size: int = Field(50, ge=1, le=4096, description="Images per batch.")
