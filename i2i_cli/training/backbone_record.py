"""What a trainer writes beside the weights it exports: ``backbone.toml``, the network it trained.

Every trainer whose settings choose a backbone (a ``BackboneChoice``) calls
``write_backbone_record`` after ``run_training``: the file names the backbone, its preset, its
``[model]`` settings and the exported weights, so a method given ``--checkpoint <model.pt>`` builds
the trained network without retyping ``--set model.*`` (``i2i_cli.networks.backbones`` reads it as
the file's record, ``trained_record``), and ``--config backbone.toml`` chooses it as well.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from i2i_cli.api.settings import dump_settings, to_toml
from i2i_cli.base.atomic import write_atomic_text
from i2i_cli.networks.backbones import TRAINED_RECORD, backbone_settings

if TYPE_CHECKING:
    from pathlib import Path

    from i2i_cli.api.settings import Settings
    from i2i_cli.run.context import RunContext
    from i2i_cli.run.model_choice import BackboneChoice


def trained_network(choice: BackboneChoice, built: Settings) -> dict[str, Any]:
    """``backbone``, ``preset`` and ``model`` that rebuild ``built``, the network trained.

    ``model`` holds the settings in which ``built`` differs from the choice's preset (or the
    defaults): the run's ``--set model.*``, and every recorded value of a checkpoint it started
    from that records its network, which the run did not have to repeat.
    """
    _, base = backbone_settings(choice.backbone, choice.preset)
    preset_values = dump_settings(base)
    network: dict[str, Any] = {"backbone": choice.backbone}
    if choice.preset is not None:
        network["preset"] = choice.preset
    model = {
        k: v for k, v in dump_settings(built).items() if v is not None and preset_values.get(k) != v
    }
    if model:
        network["model"] = model
    return network


def model_flags(network: dict[str, Any]) -> str:
    """The command-line flags that choose ``trained_network``'s backbone in a method (quoted)."""
    flags = ["--backbone", network["backbone"]]
    if "preset" in network:
        flags += ["--preset", network["preset"]]
    for key, value in network.get("model", {}).items():
        spelled = to_toml({"v": value}).strip().removeprefix("v = ")
        flags += ["--set", f"model.{key}={spelled}"]
    return " ".join(shlex.quote(flag) for flag in flags)


def backbone_record(
    network: dict[str, Any],
    weights: Path,
    trainer: str,
    use: str,
    notes: tuple[str, ...] = (),
    method: Mapping[str, Any] | None = None,
) -> str:
    """``backbone.toml``: ``trained_network`` and ``checkpoint`` = ``weights``, a settings file
    for ``--config``, with the same as flags in a comment.

    ``trainer`` names the command (``i2i train diffusion``); ``use`` says where the file goes (``i2i
    translate <method> --config <this file>``); ``notes`` are further comment lines. ``method``
    holds settings the method must run the network with (SDE-BBDM's bridge: its steps, lambda, image
    size), so ``--config`` gives them too; loading the weights by ``--checkpoint`` reads only the
    network.
    """
    record = {
        "backbone": network["backbone"],
        **({"preset": network["preset"]} if "preset" in network else {}),
        "checkpoint": str(weights.resolve()),
        **dict(method or {}),
        **({"model": network["model"]} if "model" in network else {}),
    }
    usage = [
        f"The network {trainer} trained: {use}",
        f"or the flags: {model_flags(network)} --checkpoint {shlex.quote(str(weights))}",
        *notes,
    ]
    return "".join(f"# {line}\n" for line in usage) + to_toml(record)


def write_backbone_record(
    ctx: RunContext,
    choice: BackboneChoice,
    built: Settings,
    weights: Path,
    *,
    trainer: str,
    use: str,
    notes: tuple[str, ...] = (),
    method: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Write ``backbone.toml`` for the network ``built`` beside the run's exported ``weights``
    (rank 0, then a barrier), say how to use it, and return the ``backbone`` file and the
    ``flags`` for the run's result."""
    network = trained_network(choice, built)
    path = ctx.output / TRAINED_RECORD
    if ctx.runtime.is_main:
        write_atomic_text(backbone_record(network, weights, trainer, use, notes, method), path)
    ctx.runtime.barrier()
    flags = f"{model_flags(network)} --checkpoint {shlex.quote(str(weights))}"
    ctx.log(f"use it in a method with --config {path}, or with {flags}")
    return {"backbone": str(path), "flags": flags}
