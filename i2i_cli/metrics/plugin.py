"""The built-in metrics, registered in ``i2i.metrics`` like any plugin's (no torch at import).

Each names its evaluate function in ``i2i_cli.metrics.evaluate``, imported when it runs, so
listing the commands and ``--help`` stay fast.
"""

from __future__ import annotations

from i2i_cli.api.plugin import Metric
from i2i_cli.metrics import settings as metric

PROTOCOLS = "i2i_cli.metrics.protocols"
"""Package of the task protocols ``i2i evaluate all --task <name>`` starts from."""

EVALUATE = "i2i_cli.metrics.evaluate"
"""The module of the evaluate functions."""


def _paired(summary: str) -> Metric:
    """A paired metric; the name it is registered under says which (``evaluate_paired``)."""
    return Metric(
        summary=f"{summary} of --images against --source (pairs by file name), as EGSDE.",
        settings=metric.PairedSettings,
        evaluate=f"{EVALUATE}:evaluate_paired",
    )


fid = Metric(
    summary="Fréchet Inception Distance of --images against --ref (folder or stats .npz).",
    settings=metric.FidSettings,
    evaluate=f"{EVALUATE}:evaluate_fid",
)
kid = Metric(
    summary="Kernel Inception Distance of --images against --ref (folder, or .npz with features).",
    settings=metric.KidSettings,
    evaluate=f"{EVALUATE}:evaluate_kid",
)
stats = Metric(
    summary="Write the FID statistics (mu, sigma) of --images as an .npz (pytorch-fid/EDM format).",
    settings=metric.StatsSettings,
    evaluate=f"{EVALUATE}:evaluate_stats",
)
ssim = _paired("Mean SSIM")
ms_ssim = _paired("Mean MS-SSIM")
psnr = _paired("Mean PSNR (dB)")
mse = _paired("Mean squared error")
l2 = _paired("Mean L2 distance ||x - y||_2")
miou = Metric(
    summary="Mean IoU of predicted label maps against --truth (confusion matrix, Cityscapes).",
    settings=metric.MiouSettings,
    evaluate=f"{EVALUATE}:evaluate_miou",
)
lpips = Metric(
    summary="Mean LPIPS (AlexNet, v0.1) of --images against their --target (pairs by name).",
    settings=metric.LpipsSettings,
    evaluate=f"{EVALUATE}:evaluate_lpips",
)
all_metrics = Metric(
    summary="Every metric of a task's protocol: i2i evaluate all --task wild2dog --images DIR.",
    settings=metric.AllSettings,
    evaluate=f"{EVALUATE}:evaluate_all",
    presets=PROTOCOLS,
)
