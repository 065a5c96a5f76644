"""The 2-D models shipped inside the package: one per data set, each checked by its sha256.

``models/manifest.toml`` lists, per data set, the weights file, its sha256, the ``ddib-2d``
settings it was trained with, the exact command that trained it and which weights it holds
(``weights``: the EMA average, which ``--quick`` exports). They were made by our own
trainer (``i2i train ddib-2d``), not by the reference, and differ from the official checkpoints
(``i2i download --exp synthetic``) in size; translation works the same with either.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from i2i_cli.api.settings import parse_toml
from i2i_cli.base.errors import UsageError
from i2i_cli.weights.bundled import check_sha256

PACKAGE = "i2i_ddib.models"
MANIFEST = "manifest.toml"


@dataclass(frozen=True)
class BundledModel:
    """One shipped 2-D model: its file, hash, architecture and provenance."""

    data: str
    path: Path
    sha256: str
    model: dict[str, Any]
    command: str
    weights: str
    """What the file holds: ``ema`` (the average ``--quick`` exports) or ``raw`` weights."""


def bundled_models() -> dict[str, BundledModel]:
    """Every shipped model by data-set name, as the manifest lists them."""
    package = resources.files(PACKAGE)
    table = parse_toml((package / MANIFEST).read_text(encoding="utf-8"), f"{PACKAGE} manifest")
    models = {}
    for name, entry in table.get("models", {}).items():
        models[name] = BundledModel(
            data=name,
            path=Path(str(package / entry["file"])),
            sha256=entry["sha256"],
            model=dict(entry["model"]),
            command=entry["command"],
            weights=entry["weights"],
        )
    return models


def bundled_model(data: str) -> BundledModel:
    """The shipped model of data set ``data`` (canonical name); none -> one line."""
    models = bundled_models()
    if data not in models:
        shipped = ", ".join(models) or "none"
        raise UsageError(f"no bundled 2-D model of {data} (bundled: {shipped})")
    return models[data]


def verified_path(model: BundledModel) -> Path:
    """The model's file after checking its sha256 against the manifest (a damaged install fails)."""
    check_sha256(model.path, model.sha256)
    return model.path
