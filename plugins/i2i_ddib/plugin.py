"""Registration of DDIB: the ``ddib`` method, the ``ddib-2d`` backbone and trainer (torch-free)."""

from __future__ import annotations

from i2i_cli.api.plugin import Backbone, Method, Trainer
from i2i_ddib.settings import DDIB2DTrainSettings, DDIBSettings, Synthetic2DSettings

ddib = Method(
    summary="DDIB: encode with the source model's ODE, decode with the target model's.",
    settings=DDIBSettings,
    translate="i2i_ddib.translate:translate_ddib",
    sample="i2i_ddib.sample:sample_ddib",
    presets="i2i_ddib.tasks.ddib",
)

ddib_2d = Backbone(
    summary="DDIB's 2-D SyntheticModel (MLP ResNet on points; official synthetic checkpoints).",
    settings=Synthetic2DSettings,
    build="i2i_ddib.model2d:build_synthetic_model",
    spec="i2i_ddib.settings:synthetic_spec",
    presets="i2i_ddib.presets2d",
)

ddib_2d_trainer = Trainer(
    summary="A DDIB 2-D model on one synthetic data set (--quick: minutes on a CPU).",
    settings=DDIB2DTrainSettings,
    train="i2i_ddib.train:train_ddib_2d",
    presets="i2i_ddib.tasks.train2d",
)
