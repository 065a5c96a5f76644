"""Registration of EGSDE, SDEdit, ILVR and the DSE and low-pass energies (torch-free)."""

from __future__ import annotations

from i2i_cli.api.plugin import Energy, Method, Trainer
from i2i_egsde.settings import (
    DSEEnergySettings,
    DSETrainSettings,
    EGSDESettings,
    ILVRSettings,
    LowPassEnergySettings,
    SDEditSettings,
)

egsde = Method(
    summary="EGSDE: SDEdit guided by realism (DSE) and faithfulness (low-pass) energies.",
    settings=EGSDESettings,
    translate="i2i_egsde.translate:translate_egsde",
    presets="i2i_egsde.tasks.egsde",
)

sdedit = Method(
    summary="SDEdit: noise the source to step M and denoise with the target-domain model.",
    settings=SDEditSettings,
    translate="i2i_egsde.translate:translate_sdedit",
    presets="i2i_egsde.tasks.sdedit",
)

ilvr = Method(
    summary="ILVR: sample while matching the reference's low frequencies (factor N).",
    settings=ILVRSettings,
    translate="i2i_egsde.translate:translate_ilvr",
    presets="i2i_egsde.tasks.ilvr",
)

dse = Energy(
    summary="EGSDE realism: feature similarity under a domain-specific extractor.",
    settings=DSEEnergySettings,
    build="i2i_egsde.energies:build_dse_energy",
)

lowpass = Energy(
    summary="EGSDE faithfulness: squared distance between low-passed images.",
    settings=LowPassEnergySettings,
    build="i2i_egsde.energies:build_lowpass_energy",
)

dse_trainer = Trainer(
    summary="EGSDE's domain-specific extractor: a noise-aware classifier of the domains.",
    settings=DSETrainSettings,
    train="i2i_egsde.train:train_dse",
    presets="i2i_egsde.tasks.dse",
)
