"""Registration of EGSDE, SDEdit, ILVR and the DSE and low-pass energies (torch-free)."""

from __future__ import annotations

from typing import Any

from i2i_cli.plugin import Energy, Method, Trainer
from i2i_egsde.settings import (
    DSEEnergySettings,
    DSETrainSettings,
    EGSDESettings,
    ILVRSettings,
    LowPassEnergySettings,
    SDEditSettings,
)


def translate_egsde(settings: EGSDESettings, ctx: Any) -> None:
    """EGSDE translation of the inputs."""
    from i2i_egsde.translate import translate_egsde as run

    run(settings, ctx)


def translate_sdedit(settings: SDEditSettings, ctx: Any) -> None:
    """SDEdit translation of the inputs."""
    from i2i_egsde.translate import translate_sdedit as run

    run(settings, ctx)


def translate_ilvr(settings: ILVRSettings, ctx: Any) -> None:
    """ILVR translation of the inputs."""
    from i2i_egsde.translate import translate_ilvr as run

    run(settings, ctx)


def build_dse(settings: DSEEnergySettings, ctx: Any) -> Any:
    """The DSE realism energy."""
    from i2i_egsde.energies import build_dse_energy

    return build_dse_energy(settings, ctx)


def build_lowpass(settings: LowPassEnergySettings, ctx: Any) -> Any:
    """The low-pass faithfulness energy."""
    from i2i_egsde.energies import build_lowpass_energy

    return build_lowpass_energy(settings, ctx)


def train_dse(settings: DSETrainSettings, ctx: Any) -> Any:
    """Train a domain-specific extractor."""
    from i2i_egsde.train_dse import train_dse as run

    return run(settings, ctx)


egsde = Method(
    summary="EGSDE: SDEdit guided by realism (DSE) and faithfulness (low-pass) energies.",
    settings=EGSDESettings,
    translate=translate_egsde,
    presets="i2i_egsde.tasks.egsde",
)

sdedit = Method(
    summary="SDEdit: noise the source to step M and denoise with the target-domain model.",
    settings=SDEditSettings,
    translate=translate_sdedit,
    presets="i2i_egsde.tasks.sdedit",
)

ilvr = Method(
    summary="ILVR: sample while matching the reference's low frequencies (factor N).",
    settings=ILVRSettings,
    translate=translate_ilvr,
    presets="i2i_egsde.tasks.ilvr",
)

dse = Energy(
    summary="EGSDE realism: feature similarity under a domain-specific extractor.",
    settings=DSEEnergySettings,
    build=build_dse,
)

lowpass = Energy(
    summary="EGSDE faithfulness: squared distance between low-passed images.",
    settings=LowPassEnergySettings,
    build=build_lowpass,
)

dse_trainer = Trainer(
    summary="EGSDE's domain-specific extractor: a noise-aware classifier of the domains.",
    settings=DSETrainSettings,
    train=train_dse,
    presets="i2i_egsde.tasks.dse",
)
