"""Settings of the built-in metrics (no torch here: ``--help`` must stay fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from i2i_cli.api.settings import Settings

Backend = Literal["pytorch-fid", "nvidia"]
Transform = Literal["none", "egsde-celebahq"]
LabelFormat = Literal["train-ids", "cityscapes-label-ids"]
TargetLayout = Literal["folder", "edges2shoes", "cityscapes"]

FEATURE_METRICS = ("fid", "kid")
PAIRED_METRIC_NAMES = ("l2", "mse", "psnr", "ssim", "ms-ssim")
TARGET_METRICS = ("lpips",)
ALL_METRICS = FEATURE_METRICS + PAIRED_METRIC_NAMES + TARGET_METRICS


class DetectorSettings(Settings):
    """Which Inception features: backend (resizing, normalisation) and weights."""

    backend: Backend = Field(
        "pytorch-fid",
        description=(
            "Feature extractor: pytorch-fid (EGSDE/SDDM: [0,1] bilinear to 299, 2x-1) or nvidia "
            "(EDM/DG/clean-fid: uint8, TF-style bilinear to 299, (x-128)/128)."
        ),
    )
    detector: str | None = Field(
        None,
        description=(
            "Inception weights: a checkpoint name or a file (.pth, .pkl or TorchScript .pt); "
            "default fid_pt_inception (pytorch-fid) or fid_nvidia_inception (nvidia)."
        ),
    )
    transform: Transform = Field(
        "none",
        description=(
            "Extra input transform: egsde-celebahq is EGSDE's male2female FID input (PIL "
            "256 then 299, ImageNet normalisation before the network's own); pytorch-fid only."
        ),
    )

    @model_validator(mode="after")
    def _transform_needs_pytorch_fid(self) -> DetectorSettings:
        if self.transform != "none" and self.backend != "pytorch-fid":
            raise ValueError(f"transform {self.transform} works with the pytorch-fid backend only")
        return self


class FidSettings(DetectorSettings):
    """``i2i evaluate fid``: generated images against reference images or statistics."""

    images: Path | None = Field(None, description="Folder of generated or translated images.")
    ref: str | None = Field(
        None,
        description=(
            "Reference: a folder of images, a statistics .npz (mu, sigma), or "
            "checkpoint:<name> for a downloaded statistics file."
        ),
    )


class KidSettings(FidSettings):
    """``i2i evaluate kid``: FID's inputs plus the subset sampling of KID."""

    subsets: int = Field(100, ge=1, le=100_000, description="Random subsets KID averages over.")
    subset_size: int = Field(
        1000, ge=2, le=1_000_000, description="Features per subset (fewer if a side has fewer)."
    )
    kid_seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the subset draws.")


class StatsSettings(DetectorSettings):
    """``i2i evaluate stats``: reference statistics of a folder, as an .npz."""

    images: Path | None = Field(None, description="Folder of reference images.")
    out: Path | None = Field(
        None, description="Statistics file to write (default <output>/stats.npz)."
    )
    features: bool = Field(
        False, description="Also store the pool3 features (needed to use the file as a KID ref)."
    )


class PairedSettings(Settings):
    """Paired metrics: each image against the source of the same name."""

    images: Path | None = Field(None, description="Folder of translated images.")
    source: Path | None = Field(
        None,
        description="Folder of source images, paired with the images by file name (default: "
        "the input of the translate run that wrote --images).",
    )
    paired_size: int = Field(
        256,
        ge=0,
        le=8192,
        description="Shorter side both images are first resized to (bicubic); 0 keeps their size.",
    )


class LpipsSettings(Settings):
    """``i2i evaluate lpips``: each translation against its ground-truth target (bbdm.md 9)."""

    images: Path | None = Field(None, description="Folder of translated images.")
    target: Path | None = Field(
        None,
        description=(
            "Ground-truth targets: a folder paired with the images by file name (layout "
            "folder), or a data set root in the edges2shoes or cityscapes layout."
        ),
    )
    target_layout: TargetLayout = Field(
        "folder",
        description=(
            "folder: <target>/<name>.*; edges2shoes: right halves of <target>/<split>/*.jpg; "
            "cityscapes: <target>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png."
        ),
    )
    target_split: str = Field("val", description="Split folder of a data set layout.")
    target_size: int = Field(
        256,
        ge=0,
        le=8192,
        description=(
            "Square side images and targets are resized to (PIL bilinear, aspect not kept, "
            "as SDE-BBDM's data); 0 keeps their size."
        ),
    )
    trunk: str = Field(
        "lpips_alexnet", description="AlexNet ImageNet weights: a checkpoint name or a file."
    )
    heads: str = Field(
        "lpips_alex_v0_1", description="LPIPS v0.1 linear heads: a checkpoint name or a file."
    )


class MiouSettings(Settings):
    """``i2i evaluate miou``: predicted label maps against ground-truth label maps."""

    images: Path | None = Field(None, description="Folder of predicted label maps (PNG).")
    truth: Path | None = Field(
        None, description="Folder of ground-truth label maps, paired by file name."
    )
    classes: int = Field(19, ge=1, le=255, description="Number of classes (Cityscapes: 19).")
    prediction_format: LabelFormat = Field(
        "train-ids", description="How the predictions are labelled (255 = void in train-ids)."
    )
    truth_format: LabelFormat = Field(
        "cityscapes-label-ids",
        description="How the ground truth is labelled (gtFine *_labelIds.png are label ids).",
    )


class AllSettings(KidSettings, PairedSettings, LpipsSettings):
    """``i2i evaluate all``: a task's whole protocol (its preset lists the metrics).

    With a data set ``target_layout``, the targets are first written as PNGs at
    ``target_size`` under ``<output>/targets``, and FID takes that folder as its reference
    unless ``--ref`` names another.
    """

    metrics: list[str] = Field(
        ["fid", "l2", "mse", "psnr", "ssim"],
        description="Metrics to compute: fid, kid, l2, mse, psnr, ssim, ms-ssim, lpips.",
        json_schema_extra={"cli_flag": "--metric"},
    )
    protocol: str = Field(
        "custom", description="Where the protocol comes from (set by the task preset)."
    )

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        unknown = [name for name in metrics if name not in ALL_METRICS]
        if unknown:
            raise ValueError(
                f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(ALL_METRICS)}"
            )
        if not metrics:
            raise ValueError("name at least one metric")
        return list(dict.fromkeys(metrics))
