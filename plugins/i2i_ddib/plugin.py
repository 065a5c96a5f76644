"""Registration of DDIB: the ``ddib`` method, the ``ddib-2d`` backbone and trainer (torch-free)."""

from __future__ import annotations

from typing import Any

from i2i_cli.plugin import Backbone, Method, Trainer
from i2i_ddib.settings import DDIB2DTrainSettings, DDIBSettings
from i2i_ddib.settings2d import Synthetic2DSettings, build_synthetic_model, synthetic_prediction


def translate(settings: DDIBSettings, ctx: Any) -> Any:
    """Translate 2-D points or images from the source domain to the target domain."""
    from i2i_ddib.run import translate_ddib

    return translate_ddib(settings, ctx)


def sample(settings: DDIBSettings, ctx: Any) -> Any:
    """Draw from the target domain's model by decoding Gaussian latents."""
    from i2i_ddib.run import sample_ddib

    return sample_ddib(settings, ctx)


def train_2d(settings: DDIB2DTrainSettings, ctx: Any) -> Any:
    """Train a 2-D model on one synthetic data set."""
    from i2i_ddib.train2d import train_ddib_2d

    return train_ddib_2d(settings, ctx)


ddib = Method(
    summary="DDIB: encode with the source model's ODE, decode with the target model's.",
    settings=DDIBSettings,
    translate=translate,
    sample=sample,
    presets="i2i_ddib.tasks.ddib",
)

ddib_2d = Backbone(
    summary="DDIB's 2-D SyntheticModel (MLP ResNet on points; official synthetic checkpoints).",
    settings=Synthetic2DSettings,
    build=build_synthetic_model,
    prediction=synthetic_prediction,
)

ddib_2d_trainer = Trainer(
    summary="A DDIB 2-D model on one synthetic data set (--quick: minutes on a CPU).",
    settings=DDIB2DTrainSettings,
    train=train_2d,
    presets="i2i_ddib.tasks.train2d",
)
