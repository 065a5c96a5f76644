"""Evaluation metrics: FID and KID on Inception pool3 features, paired metrics, mIoU.

The metrics ship with the core but register through the ``i2i.metrics`` entry points like any
plugin (``i2i_cli.metrics.plugin``), so ``i2i evaluate <name>`` lists a user's metrics beside
them. Modules: ``frechet`` (statistics and the Fréchet distance), ``kid``, ``paired`` (SSIM,
MS-SSIM, PSNR, MSE, L2 on tensors), ``miou``, ``inception`` (the network), ``detectors``
(backends: weights, resizing, normalisation), ``features`` (batched, sharded extraction).
"""
