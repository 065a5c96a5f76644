"""``i2i evaluate lpips``: mean LPIPS of translations against their targets, sharded across ranks.

Each pair is decoded (PIL RGB), both images resized to ``target_size`` squared (bilinear, as
SDE-BBDM's data), mapped to [-1, 1] (``ToTensor`` then ``2x - 1``) and scored with LPIPS v0.1
(AlexNet); the result is the mean over pairs. SDE-BBDM averages per batch, then over batches
(bbdm.md 9): the same mean when every batch is full, the per-image mean here otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.io.data import ImageItem, UnreadableImageError
from i2i_cli.metrics.images import images_in, to_unit
from i2i_cli.metrics.lpips import LPIPS, lpips_from_states
from i2i_cli.metrics.paired_eval import PairScores
from i2i_cli.metrics.record import file_sha256
from i2i_cli.metrics.settings import LpipsSettings
from i2i_cli.metrics.targets import read_image, read_target, rekeyed_images, target_items

if TYPE_CHECKING:
    from i2i_cli.metrics.sources import Warnings
    from i2i_cli.run.context import RunContext

Pair = tuple[ImageItem, ImageItem]

_LISTED = 5

PUBLISHED_TRUNK = "lpips_alexnet"
"""The artifact of the trunk LPIPS v0.1 was trained on: torchvision's ImageNet AlexNet file."""


def pair_with_targets(
    images: Sequence[ImageItem], targets: Sequence[ImageItem], images_dir: Path, target_dir: Path
) -> list[Pair]:
    """``(image, target)`` pairs by key, sorted; an image without a target is a UsageError."""
    by_key = {item.key: item for item in targets}
    unmatched = [item.key for item in images if item.key not in by_key]
    if unmatched:
        shown = ", ".join(unmatched[:_LISTED])
        more = f" and {len(unmatched) - _LISTED} more" if len(unmatched) > _LISTED else ""
        raise UsageError(
            f"{len(unmatched)} of {len(images)} images in {images_dir} have no target of the "
            f"same name in {target_dir} (first: {shown}{more}); pairs are matched by file name"
        )
    return [(item, by_key[item.key]) for item in sorted(images, key=lambda item: item.key)]


def open_lpips(settings: LpipsSettings, ctx: RunContext) -> tuple[LPIPS, dict[str, Any]]:
    """The LPIPS network on the run's device and the fields recording its weights.

    Both files are checked first, so missing ones are one line naming every download.
    """
    from i2i_cli.networks.backbones import state_dict_from
    from i2i_cli.run.model_choice import checkpoint_path, require_checkpoints
    from i2i_cli.weights.loading import load_checkpoint

    require_checkpoints(ctx, [settings.trunk, settings.heads])
    trunk_path = checkpoint_path(ctx, settings.trunk)
    heads_path = checkpoint_path(ctx, settings.heads)
    network = lpips_from_states(
        state_dict_from(load_checkpoint(trunk_path), str(trunk_path)),
        state_dict_from(load_checkpoint(heads_path), str(heads_path)),
        trunk_origin=str(trunk_path),
        heads_origin=str(heads_path),
    )
    fields = {
        "lpips_net": "alex",
        "lpips_version": "0.1",
        "lpips_trunk": str(trunk_path),
        "lpips_trunk_sha256": file_sha256(trunk_path),
        "lpips_heads": str(heads_path),
        "lpips_heads_sha256": file_sha256(heads_path),
    }
    return network.to(ctx.runtime.device), fields


def trunk_warning(ctx: RunContext, trunk: str, sha256: str) -> str | None:
    """Why the trunk file is not the published AlexNet (its sha256 is not the manifest's).

    Other AlexNet-shaped weights (random, fine-tuned) load, but their scores are not LPIPS.
    """
    try:
        published = ctx.store.artifact(PUBLISHED_TRUNK)
    except UsageError:
        return None
    expected = published.sha256 or published.sha256_prefix
    if not expected or sha256.startswith(expected):
        return None
    return (
        f"the LPIPS trunk {trunk} is not torchvision's ImageNet AlexNet ({published.file}, "
        f"sha256 {expected[:8]}...; this file's is {sha256[:8]}...): scores from other weights are "
        "not LPIPS and cannot be compared with published ones"
    )


def lpips_pairs(settings: LpipsSettings, metric: str) -> tuple[list[Pair], int]:
    """The (image, target) pairs of the settings and how many targets there are."""
    from i2i_cli.metrics.sources import required

    images = Path(required(settings.images, "--images DIR", metric))
    target = Path(required(settings.target, "--target DIR", metric))
    layout = settings.target_layout
    found = rekeyed_images(images_in(images, "images"), layout, images)
    targets = target_items(target, layout, settings.target_split)
    return pair_with_targets(found, targets, images, target), len(targets)


def score_lpips(
    pairs: Sequence[Pair],
    network: LPIPS,
    *,
    layout: str,
    size: int,
    batch_size: int,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
) -> PairScores:
    """Per-pair LPIPS; consecutive pairs of one size are scored as a batch."""
    scores = PairScores()
    batch: list[tuple[Pair, torch.Tensor, torch.Tensor]] = []

    def flush() -> None:
        if not batch:
            return
        x = torch.stack([entry[1] for entry in batch]).to(device)
        y = torch.stack([entry[2] for entry in batch]).to(device)
        with torch.no_grad():
            values = network(2 * to_unit(x) - 1, 2 * to_unit(y) - 1).double().cpu()
        for index, (pair, _, _) in enumerate(batch):
            scores.values[pair[0].key] = {"lpips": float(values[index])}
        if on_batch is not None:
            on_batch(len(batch))
        batch.clear()

    for pair in pairs:
        image, target = pair
        try:
            x = read_image(image.path, size)
            y = read_target(target.path, layout, size)
        except UnreadableImageError as error:
            scores.skipped.append(f"{error.path}: {error.reason}")
            continue
        if x.shape != y.shape:
            raise UsageError(
                f"{image.path} is {x.shape[-1]}x{x.shape[-2]} but its target {target.path} is "
                f"{y.shape[-1]}x{y.shape[-2]}; LPIPS needs equal sizes (set --target-size)"
            )
        if batch and batch[0][1].shape != x.shape:
            flush()
        batch.append((pair, x, y))
        if len(batch) == batch_size:
            flush()
    flush()
    return scores


def lpips_fields(
    settings: LpipsSettings, ctx: RunContext, warnings: Warnings, metric: str
) -> dict[str, Any]:
    """Mean LPIPS over the pairs and the fields recording how it was computed."""
    pairs, target_count = lpips_pairs(settings, metric)
    network, weight_fields = open_lpips(settings, ctx)
    trunk, trunk_sha256 = weight_fields["lpips_trunk"], weight_fields["lpips_trunk_sha256"]
    unpublished = trunk_warning(ctx, trunk, trunk_sha256)
    if unpublished is not None:
        warnings.warn(unpublished)
    ctx.progress.start_items(len(pairs), "pairs")
    local = score_lpips(
        ctx.runtime.shard(pairs),
        network,
        layout=settings.target_layout,
        size=settings.target_size,
        batch_size=ctx.run.batch_size,  # type: ignore[attr-defined]
        device=ctx.runtime.device,
        on_batch=ctx.progress.advance_items,
    )
    scores = PairScores().merge(ctx.runtime.all_gather_objects(local))
    if scores.skipped:
        first = "; ".join(scores.skipped[:3])
        warnings.warn(f"skipped {len(scores.skipped)} pair(s) with an unreadable file ({first})")
    size = settings.target_size
    resize = (
        f"PIL bilinear to {size}x{size} (aspect not kept), ToTensor, 2x - 1"
        if size
        else "stored size, ToTensor, 2x - 1"
    )
    return {
        **scores.means(["lpips"]),
        **weight_fields,
        "images": str(settings.images),
        "target": str(settings.target),
        "target_layout": settings.target_layout,
        "target_split": settings.target_split,
        "lpips_pairs": len(scores.values),
        "lpips_pairs_skipped": len(scores.skipped),
        "target_count": target_count,
        "lpips_pairing": (
            "by file name without suffix"
            if settings.target_layout == "folder"
            else f"by file stem ({settings.target_layout} layout)"
        ),
        "lpips_resize": resize,
        "lpips_mean": "over pairs (float64); the reference averages per batch, then over batches",
    }
