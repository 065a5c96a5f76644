"""Registration of DDIB: the ``ddib`` method, the ``ddib-2d`` backbone and trainer (torch-free)."""

from __future__ import annotations

from i2i_cli.plugin import Backbone, Method, Trainer
from i2i_ddib.settings import DDIB2DTrainSettings, DDIBSettings
from i2i_ddib.settings2d import Synthetic2DSettings

ddib = Method(
    summary="DDIB: encode with the source model's ODE, decode with the target model's.",
    settings=DDIBSettings,
    translate="i2i_ddib.run:translate_ddib",
    sample="i2i_ddib.run:sample_ddib",
    presets="i2i_ddib.tasks.ddib",
)

ddib_2d = Backbone(
    summary="DDIB's 2-D SyntheticModel (MLP ResNet on points; official synthetic checkpoints).",
    settings=Synthetic2DSettings,
    build="i2i_ddib.settings2d:build_synthetic_model",
    spec="i2i_ddib.settings2d:synthetic_spec",
    presets="i2i_ddib.presets2d",
)

ddib_2d_trainer = Trainer(
    summary="A DDIB 2-D model on one synthetic data set (--quick: minutes on a CPU).",
    settings=DDIB2DTrainSettings,
    train="i2i_ddib.train2d:train_ddib_2d",
    presets="i2i_ddib.tasks.train2d",
)
