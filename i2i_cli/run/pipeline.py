"""Shared drivers of ``translate`` and ``sample``: shard, batch, noise, write, resume.

A method supplies a pure batch function; the driver owns everything around it, so every method
gets the same resumable, rank-sharded, per-item-seeded behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from i2i_cli.base.errors import UsageError
from i2i_cli.base.wording import counted
from i2i_cli.diffusion.noise import NoiseFactory, NoiseSource, PerItemNoise
from i2i_cli.io.data import ImageItem, UnreadableImageError, find_images, iter_batches, read_image
from i2i_cli.io.image_fit import Fit
from i2i_cli.io.input_record import PreparedInputs, write_prepared_inputs
from i2i_cli.io.output_format import OutputFormat, describe_output_format
from i2i_cli.io.outputs import (
    GRID_FILE,
    Quantize,
    image_grid,
    output_path,
    pending,
    remove_other_formats,
    resolved,
    write_image,
)
from i2i_cli.run.context import RunContext
from i2i_cli.run.progress import StepCallback

if TYPE_CHECKING:
    import torch
    from typing_extensions import NotRequired, TypedDict, Unpack

    class TranslateOptions(TypedDict):
        """The keyword options of ``translate_image_items``; ``translate_images`` passes them on."""

        image_size: int | None
        default_input: NotRequired[Path | None]
        fit: NotRequired[Fit]
        quantize: NotRequired[Quantize]
        accept: NotRequired[ItemFilter | None]
        noise: NotRequired[NoiseFactory]


BatchTranslator = Callable[["torch.Tensor", NoiseSource, StepCallback], "torch.Tensor"]
"""``translate(x, noise, callback) -> y``: (B,3,H,W) sources in [-1,1] to results in [-1,1]."""

ItemBatchTranslator = Callable[
    [Sequence[ImageItem], "torch.Tensor", NoiseSource, StepCallback], "torch.Tensor"
]
"""``translate(items, x, noise, callback) -> y``: a BatchTranslator also given row b's item.

For methods whose work depends on the file, e.g. a class label in its name (DDIB, ddib.md §3).
"""

ItemFilter = Callable[[ImageItem], "str | None"]
"""``accept(item) -> reason``: None to translate ``item``; otherwise why it is left out."""

BatchSampler = Callable[[int, NoiseSource, StepCallback], "torch.Tensor"]
"""``sample(batch_size, noise, callback) -> x``: a batch of samples in [-1,1]."""

GRID_ROWS = 8


def under_autocast(ctx: RunContext, sampler: Callable[..., torch.Tensor]) -> BatchTranslator:
    """The pipeline's batch function: ``sampler(x, noise=, callback=)`` in the run's precision."""

    def translate_batch(
        x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        with ctx.runtime.autocast():
            return sampler(x, noise=noise, callback=callback)

    return translate_batch


def _write_batch(
    ctx: RunContext,
    items: Sequence[ImageItem],
    images: torch.Tensor,
    output_format: OutputFormat = "png",
    sources: frozenset[Path] = frozenset(),
    quantize: Quantize = "round",
) -> None:
    """Write one output image per item under its key, counting each on the progress bar.

    An item's result in the other format, left by a run redone in a new format, is removed
    once the new one is written (``remove_other_formats``; never one of ``sources``).
    """
    for item, image in zip(items, images, strict=True):
        write_image(image, output_path(ctx.output, item, output_format), quantize)
        remove_other_formats(ctx.output, item, output_format, sources=sources)
        ctx.progress.advance_items()


def _finite_results(
    ctx: RunContext, items: Sequence[ImageItem], results: torch.Tensor
) -> tuple[list[ImageItem], torch.Tensor]:
    """The items whose result is finite and their results as float32 on the CPU.

    Each other item gets one red ``failed`` line naming what went non-finite at which step
    (``ctx.finite``); it is not written, and a rerun tries it again.
    """
    failures = ctx.finite.finish(results)
    keep = [row for row, failure in enumerate(failures) if failure is None]
    for item, failure in zip(items, failures, strict=True):
        if failure is not None:
            ctx.console.print(f"[red]failed[/red] {item.path}: {failure.line()}; not written")
            ctx.progress.skip_items()
    kept = results.detach()[keep] if len(keep) < len(items) else results.detach()
    return [items[row] for row in keep], kept.float().cpu()


def translate_images(
    ctx: RunContext, translate_batch: BatchTranslator, **options: Unpack[TranslateOptions]
) -> list[ImageItem]:
    """Translate every source image not yet translated; returns the items this rank wrote.

    Sources come from ``--input`` (a file or folder) or the method's ``default_input``; results go
    to ``<output>/<source key>.png`` (``--output-format source``: under the source's own name and
    format, see ``i2i_cli.io.output_format``); existing results are kept unless ``--overwrite``;
    item ``k`` draws its noise from ``PerItemNoise(seed, k)`` whatever the batch, order or rank. A
    ``grid.png`` (source | result of the first inputs, see ``write_preview``) is written after the
    first batch for a quick look and again at the end. No readable input at all (every source
    unreadable, none done before) is a UsageError after the skipped lines. ``fit`` brings each image
    to ``image_size`` (see ``i2i_cli.io.image_fit.Fit``); ``accept`` leaves items out (see
    ``translate_image_items``). An item whose result went non-finite is one ``failed`` line and is
    not written (``i2i_cli.run.nonfinite``).
    """

    def ignore_items(
        items: Sequence[ImageItem], x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        return translate_batch(x, noise, callback)

    return translate_image_items(ctx, ignore_items, **options)


def translate_image_items(
    ctx: RunContext,
    translate_batch: ItemBatchTranslator,
    *,
    image_size: int | None,
    default_input: Path | None = None,
    fit: Fit = "crop",
    quantize: Quantize = "round",
    accept: ItemFilter | None = None,
    noise: NoiseFactory = PerItemNoise,
) -> list[ImageItem]:
    """``translate_images`` for a batch function that also receives the batch's items.

    ``accept(item)`` is asked once per source image before anything else: an item it gives a
    reason for is left out of the run (one yellow ``skipped`` line each, on rank 0) and is
    neither counted as done nor as to translate.
    """
    run = ctx.run
    source = getattr(run, "input", None) or default_input
    if source is None:
        raise UsageError(f"{ctx.plugin} needs --input (an image file or a folder of images)")
    found = find_images(Path(source))
    items, rejected = _accepted(found, accept)
    output_format: OutputFormat = run.output_format
    todo = pending(items, ctx.output, overwrite=run.overwrite, output_format=output_format)
    ctx.runtime.barrier()  # every rank lists the pending items before any rank writes one
    mine = ctx.runtime.shard(todo)
    left_out = f"{len(rejected)} left out, " if rejected else ""
    ctx.log(
        f"{counted(len(found), 'source images')} in {source}: {left_out}"
        f"{len(items) - len(todo)} already done, {len(todo)} to translate"
    )
    for item, reason in rejected:
        ctx.log(f"[yellow]skipped[/yellow] {item.path}: {reason}")
    if todo:
        ctx.log(f"writing {describe_output_format(output_format)}")
    ctx.progress.start_items(len(mine))
    if image_size is not None and ctx.runtime.is_main:
        write_prepared_inputs(ctx.output, PreparedInputs(str(source), image_size, fit))
    device = ctx.runtime.device
    written: list[ImageItem] = []
    unreadable: list[ImageItem] = []
    sources = frozenset(resolved(item.path) for item in found)

    def skip(item: ImageItem, reason: str) -> None:
        ctx.console.print(f"[yellow]skipped[/yellow] {item.path}: {reason}")
        ctx.progress.skip_items()
        unreadable.append(item)

    def small(path: Path, size: tuple[int, int]) -> None:
        ctx.console.print(
            f"[yellow]warning[/yellow] {path} is {size[0]}x{size[1]}, upscaled to "
            f"{image_size}x{image_size}: the result will be blurry"
        )

    batches = iter_batches(
        mine, image_size, run.batch_size, strict=run.strict, on_skip=skip, fit=fit, on_small=small
    )
    for batch_items, batch in batches:
        x = batch.to(device)
        source_noise = noise(run.seed, [item.key for item in batch_items], device)
        callback = ctx.finite.start(batch_items, ctx.progress.step_callback())
        y = translate_batch(batch_items, x, source_noise, callback)
        finite_items, y = _finite_results(ctx, batch_items, y)
        _write_batch(ctx, finite_items, y, output_format, sources, quantize)
        if not written and ctx.runtime.is_main:
            write_preview(ctx.output, items, image_size, fit, output_format)
        written.extend(finite_items)
    _check_some_read(ctx, source, len(mine), len(unreadable), nothing_done=len(todo) == len(items))
    ctx.runtime.barrier()  # every rank's results are written before the preview is made
    if ctx.runtime.is_main and (todo or not (ctx.output / GRID_FILE).exists()):
        write_preview(ctx.output, items, image_size, fit, output_format)
    return written


def _check_some_read(
    ctx: RunContext, source: Path, tried: int, unreadable: int, *, nothing_done: bool
) -> None:
    """UsageError when the run had inputs to do, none done before, and every rank read none.

    The counts are summed over ranks, so every rank stops together (or none does).
    """
    import torch

    counts = torch.tensor([tried, unreadable], dtype=torch.int64, device=ctx.runtime.device)
    tried, unreadable = ctx.runtime.all_reduce_sum(counts).tolist()
    if nothing_done and tried and unreadable == tried:
        raise UsageError(
            f"none of the {tried} source images in {source} could be read (each is named "
            "above); nothing was translated"
        )


def write_preview(
    output: Path,
    items: Sequence[ImageItem],
    image_size: int | None,
    fit: Fit = "crop",
    output_format: OutputFormat = "png",
) -> None:
    """``grid.png``: source | result rows of the first ``GRID_ROWS`` items whose result exists.

    Items are taken in key order, sources read as the run reads them and results from their
    files, so the preview depends on the inputs and results only: a resumed run shows what an
    uninterrupted one does, whatever the batch size. Rows of another shape than the first (or
    whose files cannot be read) are passed over; with no row, nothing is written, nor when an
    item's own result is named ``grid.png``.
    """
    if any(output_path(output, item, output_format) == output / GRID_FILE for item in items):
        return
    sources: list[torch.Tensor] = []
    results: list[torch.Tensor] = []
    for item in items:
        path = output_path(output, item, output_format)
        if not path.is_file():
            continue
        try:
            source, result = read_image(item.path, image_size, fit=fit), read_image(path)
        except UnreadableImageError:
            continue
        if source.shape != result.shape or (sources and source.shape != sources[0].shape):
            continue
        sources.append(source)
        results.append(result)
        if len(sources) == GRID_ROWS:
            break
    if sources:
        import torch

        grid = image_grid([torch.stack(sources), torch.stack(results)])
        write_image(grid, output / GRID_FILE)


def _accepted(
    items: Sequence[ImageItem], accept: ItemFilter | None
) -> tuple[list[ImageItem], list[tuple[ImageItem, str]]]:
    """The items ``accept`` lets through, and those it leaves out with its reasons."""
    kept: list[ImageItem] = []
    rejected: list[tuple[ImageItem, str]] = []
    for item in items:
        reason = None if accept is None else accept(item)
        if reason is None:
            kept.append(item)
        else:
            rejected.append((item, reason))
    return kept, rejected


def sample_keys(count: int) -> list[ImageItem]:
    """The items of a sampling run: ``000000 ... count-1``, each its own noise key and file."""
    return [ImageItem(key=f"{index:06d}", path=Path(f"{index:06d}")) for index in range(count)]


def sample_images(
    ctx: RunContext,
    sample_batch: BatchSampler,
    *,
    items: Sequence[ImageItem] | None = None,
    noise: NoiseFactory = PerItemNoise,
) -> list[ImageItem]:
    """Draw every sample not yet written to ``<output>/<key>.png``; returns this rank's items.

    ``items`` default to ``--num-samples`` keys ``000000 ...``; a method may name its own (EDM's
    seeds) and the ``noise`` factory that gives each its stream (``SeedNoise`` for EDM's).
    A sample that went non-finite is one ``failed`` line and is not written.
    """
    run = ctx.run
    items = sample_keys(run.num_samples) if items is None else list(items)
    todo = pending(items, ctx.output, overwrite=run.overwrite)
    ctx.runtime.barrier()  # every rank lists the pending items before any rank writes one
    mine = ctx.runtime.shard(todo)
    ctx.log(f"{len(items)} samples: {len(items) - len(todo)} already done, {len(todo)} to draw")
    ctx.progress.start_items(len(mine), "samples")
    for start in range(0, len(mine), run.batch_size):
        batch_items = mine[start : start + run.batch_size]
        batch_noise = noise(run.seed, [item.key for item in batch_items], ctx.runtime.device)
        callback = ctx.finite.start(batch_items, ctx.progress.step_callback())
        images = sample_batch(len(batch_items), batch_noise, callback)
        _write_batch(ctx, *_finite_results(ctx, batch_items, images))
    return mine
