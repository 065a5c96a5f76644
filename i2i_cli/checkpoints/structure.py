"""What a file must hold to be an artifact, checked without a published hash.

An artifact naming a ``backbone`` (and ``preset``, ``overrides``) must load safely through that
backbone's reader and hold exactly the tensors, by key and shape, that the backbone builds with
those settings; the expected shapes come from building the network on the ``meta`` device, so no
weights are allocated. An ``.npz`` must hold plain arrays (those ``arrays`` names, at least);
any other torch file must load safely and hold tensors. Backbones are reached only through the
registry (``i2i_cli.networks.backbones``), so the check works for every plugin's artifacts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i_cli.base.errors import I2IError
from i2i_cli.weights.state_dicts import shape_problems

if TYPE_CHECKING:
    from i2i_cli.checkpoints.manifest import Artifact

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors")
"""Files without a backbone that are still checked to load safely as tensors."""


@dataclass(frozen=True)
class ContentCheck:
    """What was verified about a file's contents (None: nothing checkable), or what is wrong."""

    checked: str | None
    problem: str | None = None
    skipped: str | None = None
    """Why a check the artifact asks for could not run (its backbone plugin is broken)."""

    @property
    def ok(self) -> bool:
        """True unless the contents do not fit the artifact."""
        return self.problem is None


def _about_the_file(message: str, path: Path) -> str:
    """A loader's message about ``path`` reworded about 'the file' (callers say which file)."""
    for before, after in (
        (f"cannot load checkpoint {path}: ", ""),
        (f"checkpoint {path}", "the file"),
        (str(path), "the file"),
        ("; delete it and download it again", ""),
    ):
        message = message.replace(before, after)
    return message


def network_label(artifact: Artifact) -> str:
    """The network an artifact holds, as messages name it: 'adm-unet preset afhq_dog_4m'."""
    label = f"{artifact.backbone}"
    if artifact.preset:
        label += f" preset {artifact.preset}"
    if artifact.overrides:
        label += " with " + ", ".join(f"{k}={v}" for k, v in artifact.overrides.items())
    return label


def expected_shapes(
    backbone: str, preset: str | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict ``backbone`` builds with these settings (meta device)."""
    import torch

    from i2i_cli.networks.backbones import backbone_settings

    descriptor, settings = backbone_settings(backbone, preset, overrides)
    with torch.device("meta"):
        module = descriptor.build(settings)
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def file_contents(backbone: str, path: Path) -> tuple[dict[str, tuple[int, ...]], Any]:
    """Key -> shape of the tensors in ``path``, read as ``backbone`` reads its weights, and
    what the file records of its network (``i2i_cli.networks.backbones.Record``, or None).

    Torch zip archives are memory-mapped, not read. Unsafe or unreadable -> I2IError.
    """
    from i2i_cli.networks.backbones import backbone_descriptor, read_weights

    state, record = read_weights(backbone_descriptor(backbone), backbone, path, mmap=True)
    return {key: tuple(value.shape) for key, value in state.items()}, record


def check_network(artifact: Artifact, path: Path) -> ContentCheck:
    """Whether ``path`` holds exactly the tensors of the artifact's backbone and preset.

    A file that records its network must agree with the artifact's preset, and its tensors
    must fit what it records; the check then names the record (``records EDMPrecond(...)``).
    """
    from i2i_cli.networks.backbones import backbone_settings

    assert artifact.backbone is not None
    label = network_label(artifact)
    try:
        found, record = file_contents(artifact.backbone, path)
    except I2IError as error:
        return ContentCheck(None, _about_the_file(str(error), path))
    try:
        if record is not None:
            backbone_settings(artifact.backbone, artifact.preset, artifact.overrides, record=record)
            label = f"records {record.recorded_as}, as {label} says"
            expected = expected_shapes(artifact.backbone, overrides=record.settings)
        else:
            expected = expected_shapes(artifact.backbone, artifact.preset, artifact.overrides)
    except I2IError as error:
        if record is not None:
            return ContentCheck(None, _about_the_file(str(error), path))
        return ContentCheck(None, skipped=f"cannot build {label}: {error}")
    problems = shape_problems(expected, found)
    if problems:
        return ContentCheck(None, f"its tensors do not fit {label}: {'; '.join(problems)}")
    return ContentCheck(f"{label}, {_tensors(len(expected))}")


def check_npz(artifact: Artifact, path: Path) -> ContentCheck:
    """Whether ``path`` is an ``.npz`` of plain arrays holding every array the artifact names."""
    from i2i_cli.weights.arrays import read_npz_arrays

    try:
        arrays = read_npz_arrays(path)
    except I2IError as error:
        return ContentCheck(None, _about_the_file(str(error), path))
    missing = [name for name in artifact.arrays if name not in arrays]
    if missing:
        held = ", ".join(arrays) or "none"
        return ContentCheck(None, f"it lacks the arrays {', '.join(missing)} (it holds: {held})")
    named = artifact.arrays or tuple(arrays)
    return ContentCheck(f"arrays {', '.join(named)}")


def check_tensors(path: Path) -> ContentCheck:
    """Whether a torch file without a backbone loads safely and holds at least one tensor."""
    import torch

    from i2i_cli.weights.loading import load_checkpoint

    try:
        loaded = load_checkpoint(path, mmap=True)
    except I2IError as error:
        return ContentCheck(None, _about_the_file(str(error), path))
    count = sum(1 for item in _leaves(loaded) if isinstance(item, torch.Tensor))
    if not count:
        return ContentCheck(None, f"it holds no tensors ({type(loaded).__name__})")
    return ContentCheck(f"loads safely, {_tensors(count)}")


def _tensors(count: int) -> str:
    """'1 tensor', '362 tensors'."""
    return f"{count} tensor" + ("" if count == 1 else "s")


def _leaves(value: Any, depth: int = 0) -> Iterator[Any]:
    """Every non-container value inside nested dicts, lists and tuples (8 levels at most)."""
    if depth > 8:
        return
    if isinstance(value, Mapping):
        items: Any = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        yield value
        return
    for item in items:
        yield from _leaves(item, depth + 1)


def check_contents(artifact: Artifact, path: Path) -> ContentCheck:
    """The contents check the artifact allows: its network, its arrays, or a safe load."""
    if artifact.backbone:
        return check_network(artifact, path)
    if artifact.file.endswith(".npz"):
        return check_npz(artifact, path)
    if artifact.file.endswith(TORCH_SUFFIXES):
        return check_tensors(path)
    return ContentCheck(None)
