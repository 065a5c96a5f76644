"""The ``i2i evaluate`` commands: each returns the result dict the CLI writes as result.json."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i_cli.base.errors import PluginError
from i2i_cli.metrics.frechet import frechet_distance
from i2i_cli.metrics.images import format_census, images_in
from i2i_cli.metrics.record import file_sha256, package_versions, result_header
from i2i_cli.metrics.settings import (
    FEATURE_METRICS,
    PAIRED_METRIC_NAMES,
    AllSettings,
    FidSettings,
    KidSettings,
    LpipsSettings,
    MiouSettings,
    PairedSettings,
    StatsSettings,
)
from i2i_cli.metrics.sources import (
    Warnings,
    extraction_fields,
    folder_features,
    load_reference,
    open_detector,
    reference_path,
    required,
)
from i2i_cli.metrics.statsfile import ReferenceStats, write_stats

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext

STATS_FILE = "stats.npz"
TARGETS_FOLDER = "targets"
"""Where ``i2i evaluate all`` writes the resized targets FID takes as its reference."""


def _closing(ctx: RunContext, warnings: Warnings) -> dict[str, Any]:
    """The fields every result ends with: warnings, world size and package versions."""
    return {
        "warnings": warnings.messages,
        "world_size": ctx.runtime.dist.world_size,
        "versions": package_versions(),
    }


def _frechet_style(backend: str) -> str:
    """The reference whose Fréchet-distance code a backend's result follows."""
    return "edm" if backend == "nvidia" else "pytorch-fid"


def _feature_metrics(
    settings: KidSettings, ctx: RunContext, warnings: Warnings, names: list[str], command: str
) -> dict[str, Any]:
    """FID and/or KID of ``--images`` against ``--ref``, with the fields recording them."""
    from i2i_cli.metrics.kid import kernel_inception_distance

    images = Path(required(settings.images, "--images DIR", command))
    ref = required(settings.ref, "--ref DIR|stats.npz", command)
    found = images_in(images, "images")  # bad input fails before the network loads
    reference_path(ref, ctx)
    detector, detector_fields = open_detector(settings, ctx)
    need_features = "kid" in names
    generated = folder_features(
        images, "images", detector, ctx, warnings, keep_features=need_features
    )
    reference = load_reference(ref, detector, ctx, warnings, need_features=need_features)
    values: dict[str, Any] = {}
    if "fid" in names:
        style = _frechet_style(settings.backend)
        values["fid"] = frechet_distance(
            generated.stats.mean(),
            generated.stats.covariance(),
            reference.stats.mu,
            reference.stats.sigma,
            style=style,  # type: ignore[arg-type]
            warn=warnings.warn,
        )
        values["frechet"] = style
    if need_features:
        assert generated.features is not None and reference.stats.features is not None
        kid = kernel_inception_distance(
            generated.features,
            reference.stats.features,
            subsets=settings.subsets,
            subset_size=settings.subset_size,
            seed=settings.kid_seed,
        )
        values.update(
            kid=kid.mean, kid_std=kid.std, kid_subsets=kid.subsets, kid_subset_size=kid.subset_size
        )
    return {
        **values,
        **detector_fields,
        **extraction_fields("images", images, generated),
        "images_formats": format_census(found),
        **reference.fields,
    }


def evaluate_fid(settings: FidSettings, ctx: RunContext) -> dict[str, Any]:
    """``i2i evaluate fid``: FID of a folder against a folder or statistics."""
    warnings = Warnings(ctx.log)
    kid_settings = KidSettings(**settings.model_dump())
    fields = _feature_metrics(kid_settings, ctx, warnings, ["fid"], "fid")
    return {**result_header("fid"), **fields, **_closing(ctx, warnings)}


def evaluate_kid(settings: KidSettings, ctx: RunContext) -> dict[str, Any]:
    """``i2i evaluate kid``: KID of a folder against a folder or statistics with features."""
    warnings = Warnings(ctx.log)
    fields = _feature_metrics(settings, ctx, warnings, ["kid"], "kid")
    return {**result_header("kid"), **fields, **_closing(ctx, warnings)}


def evaluate_stats(settings: StatsSettings, ctx: RunContext) -> dict[str, Any]:
    """``i2i evaluate stats``: write the statistics (mu, sigma) of a folder as an .npz."""
    warnings = Warnings(ctx.log)
    images = Path(required(settings.images, "--images DIR", "stats"))
    out = settings.out or ctx.output / STATS_FILE
    images_in(images, "images")
    detector, detector_fields = open_detector(settings, ctx)
    result = folder_features(
        images, "images", detector, ctx, warnings, keep_features=settings.features
    )
    mu, sigma = result.stats.mean(), result.stats.covariance()
    fields = {
        "out": str(out),
        **detector_fields,
        **extraction_fields("images", images, result),
    }
    if ctx.runtime.is_main:
        info = {"count": result.count, **detector_fields, "images": str(images)}
        write_stats(out, ReferenceStats(mu=mu, sigma=sigma, features=result.features, info=info))
        fields["out_sha256"] = file_sha256(out)
    return {**result_header("stats"), **fields, **_closing(ctx, warnings)}


def evaluate_paired(settings: PairedSettings, ctx: RunContext) -> dict[str, Any]:
    """``i2i evaluate ssim|psnr|l2|mse|ms-ssim``: means over pairs matched by file name.

    The metric is the one the command names (``ctx.plugin``).
    """
    from i2i_cli.metrics.paired_run import paired_fields

    metric = ctx.plugin
    if metric not in PAIRED_METRIC_NAMES:
        known = ", ".join(PAIRED_METRIC_NAMES)
        raise PluginError(
            f"metric '{metric}' is paired, so it must be registered as one of {known}"
        )
    warnings = Warnings(ctx.log)
    fields = paired_fields([metric], settings, ctx, warnings, metric)
    return {**result_header(metric), **fields, **_closing(ctx, warnings)}


def evaluate_all(settings: AllSettings, ctx: RunContext) -> dict[str, Any]:
    """``i2i evaluate all``: every metric of a task's protocol in one result."""
    from i2i_cli.metrics.lpips_run import lpips_fields
    from i2i_cli.metrics.paired_run import paired_fields

    warnings = Warnings(ctx.log)
    fields: dict[str, Any] = {
        "protocol": ctx.task or settings.protocol,
        "metrics": settings.metrics,
    }
    feature_names = [name for name in settings.metrics if name in FEATURE_METRICS]
    paired_names = [name for name in settings.metrics if name in PAIRED_METRIC_NAMES]
    if feature_names and settings.ref is None and settings.target is not None:
        reference, reference_fields = _targets_as_reference(settings, ctx, warnings)
        settings = settings.model_copy(update={"ref": str(reference)})
        fields.update(reference_fields)
    if feature_names:
        fields.update(_feature_metrics(settings, ctx, warnings, feature_names, "all"))
    if paired_names:
        fields.update(paired_fields(paired_names, settings, ctx, warnings, "all"))
    if "lpips" in settings.metrics:
        fields.update(lpips_fields(settings, ctx, warnings, "all"))
    return {**result_header("all"), **fields, **_closing(ctx, warnings)}


def _targets_as_reference(
    settings: AllSettings, ctx: RunContext, warnings: Warnings
) -> tuple[Path, dict[str, Any]]:
    """The targets written as PNGs at ``target_size`` (rank 0), FID's reference folder."""
    from i2i_cli.metrics.targets import target_items, write_targets

    assert settings.target is not None
    items = target_items(settings.target, settings.target_layout, settings.target_split)
    out = ctx.output / TARGETS_FOLDER
    if ctx.runtime.is_main:
        skipped = write_targets(items, settings.target_layout, settings.target_size, out)
        if skipped:
            warnings.warn(f"skipped {len(skipped)} unreadable target(s) ({skipped[0]})")
    ctx.runtime.barrier()
    size = settings.target_size
    return out, {
        "ref_from_target": str(settings.target),
        "ref_target_layout": settings.target_layout,
        "ref_target_resize": f"PIL bilinear to {size}x{size}, PNG" if size else "stored size, PNG",
    }


def evaluate_lpips(settings: LpipsSettings, ctx: RunContext) -> dict[str, Any]:
    """``i2i evaluate lpips``: mean LPIPS (AlexNet, v0.1) of translations against targets."""
    from i2i_cli.metrics.lpips_run import lpips_fields

    warnings = Warnings(ctx.log)
    fields = lpips_fields(settings, ctx, warnings, "lpips")
    return {**result_header("lpips"), **fields, **_closing(ctx, warnings)}


def evaluate_miou(settings: MiouSettings, ctx: RunContext) -> dict[str, Any]:
    """``i2i evaluate miou``: mean IoU of label maps from a confusion matrix."""
    from i2i_cli.metrics.paired_run import miou_fields

    warnings = Warnings(ctx.log)
    return {
        **result_header("miou"),
        **miou_fields(settings, ctx, warnings),
        **_closing(ctx, warnings),
    }
