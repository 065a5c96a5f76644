"""The one training loop every trainer plugin runs: AMP, EMA, clipping, atomic checkpoints, resume.

A trainer builds a ``TrainingRecipe`` (model, optimiser, loss, batches) and calls
``run_training(ctx, recipe)``; ``i2i train`` runs every trainer under ``training_setup_rng``, so
a model built with torch's initialisers starts from weights fixed by the run seed. Batch ``k``
and its noise come from a generator seeded by (run seed, k, rank), so a run resumed after a
kill continues exactly as if it had never stopped: on the CPU its final weights are bitwise
those of an uninterrupted run.
"""

from i2i_cli.training.ema import make_ema, update_ema
from i2i_cli.training.loop import CHECKPOINT, EXPORT, METRICS, run_training, train_step
from i2i_cli.training.randomness import (
    EpochSampler,
    step_generator,
    step_global_rng,
    training_setup_rng,
)
from i2i_cli.training.recipe import (
    Batches,
    Loss,
    OptimizerFactory,
    TrainingRecipe,
    loop_options,
)

__all__ = [
    "CHECKPOINT",
    "EXPORT",
    "METRICS",
    "Batches",
    "EpochSampler",
    "Loss",
    "OptimizerFactory",
    "TrainingRecipe",
    "loop_options",
    "make_ema",
    "run_training",
    "step_generator",
    "step_global_rng",
    "train_step",
    "training_setup_rng",
    "update_ema",
]
