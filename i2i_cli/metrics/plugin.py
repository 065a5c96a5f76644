"""The built-in metrics, registered in ``i2i.metrics`` like any plugin's (no torch at import).

Each evaluate function imports the metric code when it runs, so listing the commands and
``--help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from i2i_cli.metrics.settings import (
    AllSettings,
    FidSettings,
    KidSettings,
    MiouSettings,
    PairedSettings,
    StatsSettings,
)
from i2i_cli.plugin import Metric

if TYPE_CHECKING:
    from i2i_cli.context import RunContext

PROTOCOLS = "i2i_cli.metrics.protocols"
"""Package of the task protocols ``i2i evaluate all --task <name>`` starts from."""


def _fid(settings: FidSettings, ctx: RunContext) -> dict[str, Any]:
    from i2i_cli.metrics.evaluate import evaluate_fid

    return evaluate_fid(settings, ctx)


def _kid(settings: KidSettings, ctx: RunContext) -> dict[str, Any]:
    from i2i_cli.metrics.evaluate import evaluate_kid

    return evaluate_kid(settings, ctx)


def _stats(settings: StatsSettings, ctx: RunContext) -> dict[str, Any]:
    from i2i_cli.metrics.evaluate import evaluate_stats

    return evaluate_stats(settings, ctx)


def _miou(settings: MiouSettings, ctx: RunContext) -> dict[str, Any]:
    from i2i_cli.metrics.evaluate import evaluate_miou

    return evaluate_miou(settings, ctx)


def _all(settings: AllSettings, ctx: RunContext) -> dict[str, Any]:
    from i2i_cli.metrics.evaluate import evaluate_all

    return evaluate_all(settings, ctx)


def _paired(name: str) -> Any:
    """The evaluate function of one paired metric."""

    def run(settings: PairedSettings, ctx: RunContext) -> dict[str, Any]:
        from i2i_cli.metrics.evaluate import evaluate_paired

        return evaluate_paired((name,), settings, ctx)

    return run


fid = Metric(
    summary="Fréchet Inception Distance of --images against --ref (folder or stats .npz).",
    settings=FidSettings,
    evaluate=_fid,
)
kid = Metric(
    summary="Kernel Inception Distance of --images against --ref (folder, or .npz with features).",
    settings=KidSettings,
    evaluate=_kid,
)
stats = Metric(
    summary="Write the FID statistics (mu, sigma) of --images as an .npz (pytorch-fid/EDM format).",
    settings=StatsSettings,
    evaluate=_stats,
)
ssim = Metric(
    summary="Mean SSIM of --images against --source (pairs by file name), as EGSDE.",
    settings=PairedSettings,
    evaluate=_paired("ssim"),
)
ms_ssim = Metric(
    summary="Mean MS-SSIM of --images against --source (pairs by file name), as EGSDE's tool.",
    settings=PairedSettings,
    evaluate=_paired("ms-ssim"),
)
psnr = Metric(
    summary="Mean PSNR (dB) of --images against --source (pairs by file name), as EGSDE.",
    settings=PairedSettings,
    evaluate=_paired("psnr"),
)
mse = Metric(
    summary="Mean squared error of --images against --source (pairs by file name), as EGSDE.",
    settings=PairedSettings,
    evaluate=_paired("mse"),
)
l2 = Metric(
    summary="Mean L2 distance ||x - y||_2 of --images against --source, as EGSDE.",
    settings=PairedSettings,
    evaluate=_paired("l2"),
)
miou = Metric(
    summary="Mean IoU of predicted label maps against --truth (confusion matrix, Cityscapes).",
    settings=MiouSettings,
    evaluate=_miou,
)
all_metrics = Metric(
    summary="Every metric of a task's protocol: i2i evaluate all --task wild2dog --images DIR.",
    settings=AllSettings,
    evaluate=_all,
    presets=PROTOCOLS,
)
