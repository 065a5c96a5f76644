"""Running a method's shipped task preset through the CLI on the tiny golden networks.

The end-to-end preset tests (``test_task_presets_*.py``) run ``i2i translate METHOD --task T``
in-process with only the checkpoints and the network size overridden, and look at what the
method's sampler was given and what it returned. The golden files' inputs and noise are handed
to the sampler where no image file or seed can carry them (``spy_sampler``).
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.api.registry import Registry
from i2i_cli.api.settings import to_toml
from i2i_cli.cli.commands.resolve import preset_layer, task_presets
from i2i_cli.diffusion.noise import RecordedNoise
from tests.conftest import run_i2i

ADM_SIZE = ("image_size", "num_channels", "num_res_blocks", "channel_mult")
ADM_SIZE += ("attention_resolutions", "num_head_channels")
"""The ADM UNet flags that size a network (reference flag names, as ``create_model`` takes)."""

DDPM_SIZE = ("resolution", "ch", "ch_mult", "num_res_blocks", "attn_resolutions")
"""The ddim-repo UNet's sizing keys (egsde.md §4.2)."""


def load_golden(golden_dir: Path, name: str) -> dict[str, Any]:
    """One golden file (``name`` without ``.pt``)."""
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def tolerance(golden: Mapping[str, Any]) -> dict[str, float]:
    """``assert_close`` keywords of a golden file's recorded tolerance."""
    return {"atol": golden["tolerance"]["atol"], "rtol": golden["tolerance"]["rtol"]}


def state_file(state: Mapping[str, torch.Tensor], path: Path) -> Path:
    """A state dict saved as a ``.pt`` checkpoint file."""
    torch.save(dict(state), path)
    return path


@functools.cache
def presets_package(method: str) -> str | None:
    """The package of the task presets the method ``method`` ships (the registry read once)."""
    return Registry.discover().load("methods", method).presets


def shipped_tasks(method: str) -> list[str]:
    """The task presets the method ``method`` ships, sorted."""
    return sorted(task_presets(presets_package(method)))


def preset(method: str, task: str) -> dict[str, Any]:
    """The settings layer of a shipped task preset, as the file holds it."""
    return preset_layer(presets_package(method), task)


def reference(method: str, task: str) -> dict[str, Any]:
    """The reference's values for a shipped task preset, as test_preset_sources.py types them
    from the specs (the one table of them; not read from the presets)."""
    from tests.test_preset_sources import REFERENCE

    package = presets_package(method)
    assert package is not None, f"{method} ships no task presets"
    return REFERENCE[f"plugins/{package.replace('.', '/')}/{task}.toml"]


def reference_backbone(path: str) -> dict[str, Any]:
    """The reference's values of a backbone preset (``plugins/...toml``), from the same table."""
    from tests.test_preset_sources import REFERENCE

    return REFERENCE[path]


def adm_size(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The sizing flags of a golden ADM UNet."""
    return {key: flags[key] for key in ADM_SIZE}


def classifier_size(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A golden EncoderUNetModel's constructor arguments as adm-classifier settings (its size;
    attention at downsampling factors becomes attention at pixel sizes)."""
    size = kwargs["image_size"]
    return {
        "image_size": size,
        "width": kwargs["model_channels"],
        "depth": kwargs["num_res_blocks"],
        "channel_mult": ",".join(str(m) for m in kwargs["channel_mult"]),
        "attention_resolutions": ",".join(str(size // r) for r in kwargs["attention_resolutions"]),
        "num_head_channels": kwargs["num_head_channels"],
        "out_channels": kwargs["out_channels"],
    }


def with_checkpoint(
    term: Mapping[str, Any], checkpoint: Path, model: Mapping[str, Any]
) -> dict[str, Any]:
    """A preset energy term with only its checkpoint and its network's size replaced."""
    table = dict(term)
    table["checkpoint"] = str(checkpoint)
    table["model"] = {**table.get("model", {}), **model}
    return table


def write_layer(path: Path, layer: Mapping[str, Any]) -> Path:
    """A ``--config`` file holding ``layer`` (over the task preset)."""
    path.write_text(to_toml(layer))
    return path


def translate_task(
    method: str, task: str, config: Path, source: Path, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``i2i translate METHOD --task TASK --config CONFIG`` on the CPU, ``source`` to ``out``."""
    command = ["translate", method, "--task", task, "--config", str(config), "--device", "cpu"]
    return run_i2i([*command, "--input", str(source), "--output", str(out), *args])


def png_sources(folder: Path, pixels: torch.Tensor, names: Sequence[str]) -> Path:
    """The (B, H, W, 3) uint8 ``pixels`` written as PNG files ``names`` (sorted as given)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, pixels, strict=True):
        Image.fromarray(image.numpy()).save(folder / name)
    return folder


def random_sources(folder: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` random ``size`` x ``size`` PNG photos ``src0.png``, ``src1.png``, ..."""
    rng = np.random.default_rng(seed)
    pixels = torch.from_numpy(rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8))
    return png_sources(folder, pixels, [f"src{k}.png" for k in range(count)])


def written(path: Path) -> torch.Tensor:
    """A written result as (H, W, 3) int."""
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.int64))


def saved_as_png(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] as torchvision's ``save_image`` of ``(x + 1) / 2`` writes it."""
    image = ((x.clamp(-1, 1) + 1) / 2 * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    return image.permute(0, 2, 3, 1).long()


@dataclass
class SamplerCall:
    """One call of a method's sampler: what the CLI passed and what the sampler returned."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any


def spy_sampler(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    name: str,
    *,
    noise: Callable[[], Sequence[torch.Tensor]] | None = None,
    inputs: torch.Tensor | None = None,
    stub: Callable[..., Any] | None = None,
) -> list[SamplerCall]:
    """Record every call of ``module.name`` (the sampler a method's translate calls).

    ``noise``: the sampler draws these tensors instead of the run's (replayed in order, every one
    used). ``inputs``: the sampler gets this batch (its second argument) in place of the images
    the run read, for golden inputs no image file holds (reading is tested elsewhere). ``stub``:
    called instead of the sampler (for the preset's full step counts); ``not_run`` returns the
    sampler's input.
    """
    original = getattr(module, name)
    calls: list[SamplerCall] = []

    def sampler(*args: Any, **kwargs: Any) -> Any:
        if inputs is not None:
            args = (args[0], inputs.to(args[1].device), *args[2:])
        replay = RecordedNoise(noise()) if noise is not None else None
        if replay is not None:
            kwargs["noise"] = replay
        result = (stub or original)(*args, **kwargs)
        if replay is not None:
            replay.assert_exhausted()
        kept = result.detach().cpu().clone() if isinstance(result, torch.Tensor) else result
        calls.append(SamplerCall(args, kwargs, kept))
        return result

    monkeypatch.setattr(module, name, sampler)
    return calls


def not_run(denoiser: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """A sampler stub returning its input unchanged (the preset's values are what is looked at)."""
    return x


def record_energy_terms(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[list[Any]]:
    """The energy terms each run of ``module``'s method builds (``module.build_energies``)."""
    seen: list[list[Any]] = []
    original = module.build_energies

    def recording(terms: list[Any], *args: Any, **kwargs: Any) -> Any:
        seen.append(list(terms))
        return original(terms, *args, **kwargs)

    monkeypatch.setattr(module, "build_energies", recording)
    return seen
