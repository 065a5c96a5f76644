"""ILVR and SDDM bring their inputs to the model's size as guided-diffusion's ``center_crop_arr``
(issue 24, audit item 2): the ``adm-crop`` fit is that function on real photographs, odd sizes
included; it is the method default and every task preset's value; a run feeds its sampler that
crop and ``i2i evaluate`` prepares the sources of its folder the same way."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.io.data import read_image
from i2i_cli.io.image_fit import fit_to_size
from tests.conftest import run_i2i
from tests.tiny_models import TINY_ADM_UNET, random_weights, toml_table

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

skimage_data = pytest.importorskip(
    "skimage.data", reason="scikit-image (test extra) has the photos"
)

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
TASKS = {
    "ilvr": ["cat2dog", "wild2dog"],
    "sddm": ["cat2dog", "male2female", "wild2dog"],
}
PRESET_FOLDERS = {"ilvr": PLUGINS / "i2i_egsde/tasks/ilvr", "sddm": PLUGINS / "i2i_sddm/tasks/sddm"}
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "chelsea-451x300": skimage_data.chelsea,
    "astronaut-512x512": skimage_data.astronaut,
    "coffee-600x400": skimage_data.coffee,
}


def center_crop_arr_as_specified(photo: Image.Image, size: int) -> np.ndarray:
    """guided-diffusion's ``center_crop_arr`` from its description (sddm.md 5, "Data").

    While both sides are at least twice ``size``, each side is halved (rounded down) with PIL's
    BOX filter; then one PIL BICUBIC resize makes the shorter side ``size`` (both sides scaled by
    ``size / shorter``, rounded to the nearest integer); the ``size x size`` window is then cut
    from the pixel array at offsets ``(side - size) // 2``.
    """
    halvings = 0
    while min(photo.size) >= 2 ** (halvings + 1) * size:
        halvings += 1
    halved = photo
    for _ in range(halvings):
        halved = halved.resize((halved.width // 2, halved.height // 2), Image.Resampling.BOX)
    shorter = min(halved.size)
    target = (round(halved.width * size / shorter), round(halved.height * size / shorter))
    pixels = np.asarray(halved.resize(target, Image.Resampling.BICUBIC))
    rows, columns = pixels.shape[0] - size, pixels.shape[1] - size
    return pixels[rows // 2 :][:size, columns // 2 :][:, :size]


@pytest.mark.parametrize("photo_name", sorted(PHOTOS))
@pytest.mark.parametrize("size", [17, 33, 64, 127, 150, 255, 256, 333])
def test_adm_crop_is_center_crop_arr_on_photographs(
    photo_name: str, size: int, tmp_path: Path
) -> None:
    """Pixel for pixel, with odd sizes, one to three halvings, none, and an upscale (333)."""
    photo = Image.fromarray(PHOTOS[photo_name]())
    expected = center_crop_arr_as_specified(photo, size)
    assert expected.shape == (size, size, 3)
    fitted = np.asarray(fit_to_size(photo, size, "adm-crop"))
    assert np.array_equal(fitted, expected)
    # Read from a file, as a run reads it: the reference's arr / 127.5 - 1 exactly.
    photo.save(tmp_path / "photo.png")
    tensor = read_image(tmp_path / "photo.png", size, fit="adm-crop")
    reference = torch.from_numpy(expected.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)
    torch.testing.assert_close(tensor, reference, atol=0, rtol=0)


@pytest.mark.parametrize("photo_name", sorted(PHOTOS))
def test_adm_crop_and_crop_differ_where_the_box_halving_applies(photo_name: str) -> None:
    """The choice matters: at 128 every photo is halved first, and plain bicubic moves pixels."""
    photo = Image.fromarray(PHOTOS[photo_name]())
    adm = np.asarray(fit_to_size(photo, 128, "adm-crop"), dtype=int)
    plain = np.asarray(fit_to_size(photo, 128, "crop"), dtype=int)
    assert np.abs(adm - plain).max() > 0


def resolved_settings(method: str, task: str | None) -> dict[str, Any]:
    """The settings ``i2i translate METHOD [--task TASK] --dry-run`` resolves."""
    command = ["translate", method, *(["--task", task] if task else []), "--dry-run"]
    result = run_i2i(command)
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


@pytest.mark.parametrize(
    ("method", "task"),
    [(method, task) for method, tasks in TASKS.items() for task in [None, *tasks]],
)
def test_ilvr_and_sddm_resolve_adm_crop_by_default_and_in_every_task(
    method: str, task: str | None
) -> None:
    """Both references always load inputs with center_crop_arr, so it is the method's default."""
    assert resolved_settings(method, task)["fit"] == "adm-crop"


@pytest.mark.parametrize("method", sorted(TASKS))
def test_every_task_preset_sets_the_fit_citing_the_references_loader(method: str) -> None:
    presets = sorted(PRESET_FOLDERS[method].glob("*.toml"))
    assert [p.stem for p in presets] == TASKS[method]
    loader = "scripts/ilvr_sample.py:24-31" if method == "ilvr" else "scripts/ae_sample.py:32-39"
    for preset in presets:
        lines = [line for line in preset.read_text().splitlines() if line.startswith("fit =")]
        assert len(lines) == 1, preset
        value, _, comment = lines[0].partition("#")
        assert tomllib.loads(value)["fit"] == "adm-crop"
        assert loader in comment and "guided_diffusion/image_datasets.py:113" in comment


TINY_DDPM: dict[str, Any] = {"resolution": 32, "ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1}
"""celebahq_female's DDPM shrunk to 32 px (attention at 16 px)."""


@pytest.fixture
def tiny_networks(tmp_path: Path) -> dict[str, Path]:
    """Random 32 px afhq_dog_4m UNet and celebahq_female DDPM, and a relu1_1 encoder, as files."""
    return {
        "adm-unet": random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_UNET, tmp_path / "u.pt"),
        "ddpm-unet": random_weights("ddpm-unet", "celebahq_female", TINY_DDPM, tmp_path / "d.pt"),
        "vgg": random_weights("adain-vgg", "vgg_normalised", {"layers": "used"}, tmp_path / "v"),
    }


def tiny_overrides(method: str, task: str, networks: dict[str, Path]) -> str:
    """Only the checkpoint, the network's size and the number of steps differ from the task."""
    backbone = resolved_settings(method, task)["backbone"]
    common = f'checkpoint = "{networks[backbone]}"\nrespacing = "4"\nrange_t = 1\n'
    tiny = TINY_ADM_UNET if backbone == "adm-unet" else {**TINY_DDPM, "attn_resolutions": [16]}
    model = toml_table("model", tiny)
    if method == "ilvr":
        return common + "down_n = 4\n\n" + model
    energy = f'[[energy]]\nname = "vgg-adain"\nweight = 25.0\ncheckpoint = "{networks["vgg"]}"\n'
    return f"{common}area = 4\n\n{model}\n{energy}\n" + toml_table(
        "energy.model", {"layers": "used"}
    )


def recording_sampler(seen: list[torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A sampler that keeps the reference batch it is given and returns it as the result."""

    def sample(denoiser: object, reference: torch.Tensor, **settings: object) -> torch.Tensor:
        seen.append(reference.detach().cpu().clone())
        return reference

    return sample


@pytest.mark.parametrize(
    ("method", "task"), [("ilvr", "cat2dog"), ("sddm", "wild2dog"), ("sddm", "male2female")]
)
def test_a_task_run_feeds_its_sampler_center_crop_arr_and_evaluate_lines_up(
    method: str,
    task: str,
    tiny_networks: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cat photo (451x300) through the task preset: three BOX halvings, bicubic, crop."""
    import i2i_egsde.translate
    import i2i_sddm.translate

    module, name = (
        (i2i_egsde.translate, "sample_ilvr")
        if method == "ilvr"
        else (i2i_sddm.translate, "sample_sddm")
    )
    seen: list[torch.Tensor] = []
    monkeypatch.setattr(module, name, recording_sampler(seen))
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = Image.fromarray(skimage_data.chelsea())
    photo.save(photos / "cat.png")
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_overrides(method, task, tiny_networks))
    out = tmp_path / "run"
    command = ["translate", method, "--task", task, "--config", str(config), "--device", "cpu"]
    result = run_i2i([*command, "--input", str(photos), "--output", str(out)])
    assert result.returncode == 0, result.stderr

    expected = center_crop_arr_as_specified(photo, 32)
    prepared = torch.from_numpy(expected.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)
    assert len(seen) == 1
    torch.testing.assert_close(seen[0], prepared[None], atol=0, rtol=0)
    assert json.loads((out / "inputs.json").read_text())["fit"] == "adm-crop"
    assert re.search(r'^fit = "adm-crop"$', (out / "run.toml").read_text(), re.MULTILINE)

    # The run's output is its prepared input, so its paired error is zero only when evaluate
    # prepares the source as the run did (the plain bicubic crop is some grey levels off).
    assert np.array_equal(np.asarray(Image.open(out / "cat.png")), expected)
    plain = np.asarray(fit_to_size(photo, 32, "crop"), dtype=float)
    assert np.mean((plain - expected) ** 2) > 0
    evaluation = tmp_path / "eval"
    options = ["--paired-size", "0", "--device", "cpu", "--output", str(evaluation)]
    scored = run_i2i(["evaluate", "mse", "--images", str(out), *options])
    assert scored.returncode == 0, scored.stderr
    record = json.loads((evaluation / "result.json").read_text())
    assert record["pairs"] == 1 and record["source"] == str(photos)
    assert record["source_prepared"] == "adm-crop to 32x32, as the run prepared them"
    assert record["mse"] == 0
