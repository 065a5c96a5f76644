"""Energy terms as settings: ``--energy dse:weight=500,checkpoint=wild2dog_dse`` or a TOML list.

A method that composes energies declares ``energy: list[EnergyTerm]``; each term names a
registered energy plugin, its weight, and that plugin's own settings. ``build_energies`` turns the
terms into ``WeightedEnergy`` callables once per run. Torch-free: method settings import this.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from i2i_cli.api.plugin import Energy
from i2i_cli.api.registry import Registry
from i2i_cli.api.settings import Settings, deep_merge, parse_assignment, validate
from i2i_cli.base.errors import UsageError

if TYPE_CHECKING:
    from i2i_cli.diffusion.guidance import WeightedEnergy
    from i2i_cli.run.context import RunContext


class EnergyTerm(Settings):
    """One weighted energy: a registered energy plugin, its weight and its settings."""

    name: str = Field(description="Registered energy plugin (see `i2i plugins`).")
    weight: float = Field(description="Weight of the energy's gradient (0 turns it off).")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The energy plugin's own settings."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text_or_flat_table(cls, value: Any) -> Any:
        """Accept ``"name:weight=W,key=value"`` and flat tables ``{name, weight, key=value}``."""
        if isinstance(value, str):
            value = parse_energy_text(value)
        if isinstance(value, dict):
            known = {"name", "weight", "settings"}
            rest = {k: v for k, v in value.items() if k not in known}
            if rest:
                value = {k: v for k, v in value.items() if k in known}
                value["settings"] = {**value.get("settings", {}), **rest}
        return value


def parse_energy_text(text: str) -> dict[str, Any]:
    """``"dse:weight=500,factor=32"`` as ``{"name": "dse", "weight": 500, "factor": 32}``."""
    name, _, assignments = text.partition(":")
    if not name.strip():
        raise ValueError(f"energy {text!r} should look like name:weight=W[,key=value...]")
    table: dict[str, Any] = {"name": name.strip()}
    for part in filter(None, (p.strip() for p in assignments.split(","))):
        if "=" not in part:
            raise ValueError(f"energy {text!r}: {part!r} is not key=value")
        table = deep_merge(table, parse_assignment(part))
    if "weight" not in table:
        given = [key for key in table if key != "name"]
        near = difflib.get_close_matches("weight", given, n=1)
        if near:
            raise ValueError(f"energy {text!r}: unknown key {near[0]!r} (did you mean 'weight'?)")
        raise ValueError(f"energy {text!r} needs a weight, e.g. {name.strip()}:weight=1.0")
    return table


def energy_descriptor(name: str, registry: Registry) -> Energy:
    """The ``Energy`` registered under ``name`` (one-line error when absent or broken)."""
    energy = registry.load("energies", name)
    if not isinstance(energy, Energy):
        raise UsageError(f"energy plugin '{name}' did not register an Energy descriptor")
    return energy


def validate_energy_settings(
    terms: Sequence[EnergyTerm], registry: Registry | None = None
) -> list[Settings]:
    """Each term's settings validated by its plugin's model, before any work starts."""
    registry = registry or Registry.discover()
    return [
        validate(energy_descriptor(t.name, registry).settings, t.settings, f"energy.{t.name}.")
        for t in terms
    ]


def build_energies(
    terms: Sequence[EnergyTerm], ctx: RunContext, registry: Registry | None = None
) -> list[WeightedEnergy]:
    """The run's weighted energies, each built once by its plugin (zero weights are skipped);
    their gradients are checked for NaN and infinity while the run samples (``ctx.finite``)."""
    from i2i_cli.diffusion.guidance import WeightedEnergy

    registry = registry or Registry.discover()
    energies = []
    for term, settings in zip(terms, validate_energy_settings(terms, registry), strict=True):
        if term.weight == 0:
            continue
        function = energy_descriptor(term.name, registry).build(settings, ctx)
        watched = ctx.finite.watch_energy(term.name, function)
        energies.append(WeightedEnergy(term.name, term.weight, watched))
    return energies


def energy_checkpoints(terms: Sequence[EnergyTerm], registry: Registry | None = None) -> list[str]:
    """The checkpoints (artifacts or paths) the terms' energies load, validated first."""
    return [
        s.checkpoint
        for s in validate_energy_settings(terms, registry)
        if isinstance(getattr(s, "checkpoint", None), str)
    ]
