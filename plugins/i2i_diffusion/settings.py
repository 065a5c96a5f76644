"""Every settings model of the diffusion plugin (torch-free): ``sample diffusion`` (guided-
diffusion's sampling scripts) and ``train diffusion`` (its ``image_train.py``).

Defaults follow ``image_train.py`` where it has one (AdamW lr 1e-4, weight decay 0, EMA 0.9999,
uniform t, centre crop and random horizontal flips, the hybrid loss when the model learns its
variance) and the ``afhq_dog_4m`` architecture, the network EGSDE, ILVR and SDDM run by default,
trained from scratch. Batch 16 and 100,000 steps replace its 1 and "until stopped".
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from i2i_cli.run.model_choice import BackboneChoice

LabelSource = Literal["none", "folder", "prefix"]
TimestepSampler = Literal["uniform", "loss-second-moment"]
TrainFit = Literal["adm-crop", "crop", "stretch"]


class DiffusionSettings(BackboneChoice):
    """Sampling from a discrete-time diffusion backbone (guided-diffusion's sampling scripts).

    The process (beta schedule, T) is the backbone's own: ``--set model.diffusion_steps=4000``.
    """

    sampler: Literal["ddpm", "ddim"] = Field(
        "ddim", description="Ancestral DDPM steps or DDIM steps with --eta."
    )
    steps: int = Field(50, ge=1, le=100_000, description="Number of sampling steps (respacing).")
    respacing: str | None = Field(
        None,
        description="guided-diffusion respacing ('ddim25', '250', '10,15,20'); overrides --steps.",
    )
    eta: float = Field(0.0, ge=0.0, le=1.0, description="DDIM stochasticity (0: deterministic).")
    clip_denoised: bool = Field(True, description="Clamp each x0 estimate to [-1, 1].")
    fixed_variance: Literal["small", "large"] = Field(
        "large",
        description="Reverse variance of backbones without learned variance (DDPM sampler).",
    )
    class_label: int | None = Field(
        None,
        ge=0,
        description="Class of every sample for class-conditional backbones (default: drawn).",
    )


class DiffusionTrainSettings(BackboneChoice):
    """Train a discrete-time diffusion backbone (adm-unet, ddpm-unet) on a folder of images."""

    checkpoint: str | None = Field(
        None, description="Start from these weights (artifact or file; none: fresh, seeded)."
    )
    data: str | None = Field(None, description="Folder of training images (searched recursively).")
    labels: LabelSource = Field(
        "none",
        description="Class labels: none; folder: the first sub-folder under --data names the "
        "class (data/cat/x.png); prefix: the file name up to its first '_' (cat_0001.png, as "
        "image_datasets.py). Classes are numbered in sorted name order.",
    )
    fit: TrainFit = Field(
        "adm-crop",
        description="How images reach the model's size: adm-crop (image_datasets.py's "
        "center_crop_arr), crop (bicubic + centre crop), stretch (bilinear, aspect not kept).",
    )
    random_flip: bool = Field(True, description="Flip each image horizontally with p = 1/2.")
    schedule_sampler: TimestepSampler = Field(
        "uniform",
        description="How t is drawn: uniform, or loss-second-moment (importance sampling by "
        "the root mean square of each t's last 10 losses, Nichol & Dhariwal 2021 §3.3).",
    )
    rescale_learned_sigmas: bool = Field(
        True,
        description="Hybrid loss: weight the vlb term by T/1000 (lambda = 0.001 of L_vlb = T "
        "E_t[L_t], improved-diffusion); false: the term as is (guided-diffusion's default).",
    )
    batch_size: int = Field(16, ge=1, le=65_536, description="Images per optimiser step.")
    iterations: int = Field(100_000, ge=1, le=100_000_000, description="Optimiser steps.")
    lr: float = Field(1e-4, gt=0.0, le=1.0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW weight decay.")
    lr_anneal: bool = Field(
        False, description="Anneal the rate linearly to 0 over the iterations (lr_anneal_steps)."
    )
    ema_decay: float | None = Field(
        0.9999, ge=0.0, lt=1.0, description="EMA decay of the exported weights (none: off)."
    )
    grad_clip: float | None = Field(
        None, gt=0.0, description="Max global gradient norm (none: off, as guided-diffusion)."
    )
    checkpoint_every: int = Field(
        10_000, ge=1, le=100_000_000, description="Steps between resumable checkpoints."
    )
    log_every: int = Field(10, ge=1, description="Steps between metrics.jsonl lines.")
    workers: int | None = Field(
        None,
        ge=0,
        le=256,
        description="Processes decoding images per rank (0: in the loop; none: the CPUs per "
        "rank, at most 8).",
    )
