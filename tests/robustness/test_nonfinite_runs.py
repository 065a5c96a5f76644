"""Non-finite samples: caught where they happen, never written as images, and the run fails.

A sample that goes NaN or infinite is one ``failed`` line naming the item, the step and what
went non-finite (a network's output, a guidance gradient, the sampler's state); it is not
written, the others are, the run exits non-zero and ``result.json`` lists the failed items.
The runs use tiny networks made at test time: the real ``edm`` backbone with one NaN weight,
and the tiny EGSDE models with a low-pass weight of 1e30.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import nn

from i2i_cli.base.errors import I2IError
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradient
from i2i_cli.io.data import ImageItem
from i2i_cli.io.outputs import write_image
from i2i_cli.run.context import RunContext
from i2i_cli.run.nonfinite import FAILED_KEY, FiniteWatch, NonFinite, result_with_failures
from i2i_cli.run.pipeline import sample_images
from i2i_cli.run.progress import RunProgress
from i2i_cli.run.run_settings import SampleRun
from i2i_cli.run.runtime import create_runtime
from tests.conftest import run_i2i
from tests.robustness.run_helpers import error_line, make_images
from tests.tiny_models import TINY_ADM_8PX, TINY_EDM, random_weights, toml_table


def _failed_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("failed ")]


def _listed(out: Path) -> list[dict]:
    return json.loads((out / "result.json").read_text())[FAILED_KEY]


def _images(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob("*") if p.suffix in {".png", ".jpg", ".npz"})


# ---------------------------------------------------------------------------------------------
# Whole runs through the CLI


@pytest.fixture
def nan_edm(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny ``edm`` network's state dict with one NaN weight, and the config that builds it."""
    from i2i_cli.networks.backbones import load_backbone

    built = load_backbone("edm", preset="edm_cifar10_32x32_uncond_vp", overrides=TINY_EDM)
    state = built.module.state_dict()
    name = next(k for k in state if k.endswith(".weight") and "enc" in k and "conv" in k)
    state[name].view(-1)[0] = float("nan")
    weights = tmp_path / "edm-nan.pt"
    torch.save(state, weights)
    config = tmp_path / "tiny.toml"
    config.write_text("[model]\n" + "\n".join(f"{k} = {v}" for k, v in TINY_EDM.items()) + "\n")
    return weights, config


def test_an_edm_network_with_one_nan_weight_writes_no_image_and_fails(
    nan_edm: tuple[Path, Path], tmp_path: Path
) -> None:
    weights, config = nan_edm
    out = tmp_path / "out"
    result = run_i2i(
        [
            *("sample", "edm", "--device", "cpu", "--config", str(config)),
            *("--preset", "edm_cifar10_32x32_uncond_vp", "--checkpoint", str(weights)),
            *("--steps", "2", "--seeds", "0-1"),
            *("--output", str(out)),
        ]
    )
    error_line(result, "2 of 2 images went non-finite", "network edm", "result.json")
    assert "done:" not in result.stderr
    lines = _failed_lines(result)
    assert len(lines) == 2, result.stderr
    assert "000000: the output of network edm went non-finite" in lines[0]
    assert "at step 1 of 2; not written" in lines[0]
    assert _images(out) == []
    listed = _listed(out)
    assert [(e["item"], e["step"], e["steps"]) for e in listed] == [
        ("000000", 1, 2),
        ("000001", 1, 2),
    ]
    assert {e["non_finite"] for e in listed} == {"the output of network edm"}


def test_a_low_pass_weight_of_1e30_writes_no_black_image(tmp_path: Path) -> None:
    """A tiny EGSDE run (8 px ADM UNet, M = 6): the huge guidance blows the state up."""
    unet = random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_8PX, tmp_path / "unet.pt")
    config = tmp_path / "tiny.toml"
    config.write_text(
        f'checkpoint = "{unet}"\nstart_step = 6\n\n' + toml_table("model", TINY_ADM_8PX)
    )
    source = tmp_path / "in"
    make_images(source, 1)
    out = tmp_path / "out"
    result = run_i2i(
        [
            *("translate", "egsde", "--device", "cpu", "--task", "wild2dog"),
            *("--config", str(config), "--input", str(source), "--output", str(out)),
            *("--energy", "lowpass:weight=1e30,factor=2"),
        ]
    )
    error_line(result, "1 of 1 images went non-finite", "img0", "result.json")
    (line,) = _failed_lines(result)
    assert f"{source / 'img0.png'}: " in line and "of 6; not written" in line, line
    assert _images(out) == []  # no black img0.png, no grid
    (entry,) = _listed(out)
    assert entry["item"] == "img0" and entry["path"] == str(source / "img0.png")
    assert 1 <= entry["step"] <= 6 and entry["steps"] == 6


# ---------------------------------------------------------------------------------------------
# The pipeline: only the items that went non-finite are left out


def _context(out: Path, num_samples: int) -> RunContext:
    run = SampleRun(output=out, device="cpu", num_samples=num_samples, batch_size=num_samples)
    console = Console(file=io.StringIO(), highlight=False, soft_wrap=True)
    return RunContext(
        command="sample",
        plugin="toy",
        task=None,
        run=run,
        runtime=create_runtime("cpu", run.precision, run.seed),
        output=out,
        progress=RunProgress(console=console, enabled=False),
        console=console,
    )


def test_the_other_items_of_a_batch_are_written_and_a_rerun_retries_the_failed(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    ctx = _context(out, 3)

    def sample_batch(count: int, noise: object, callback: object) -> torch.Tensor:
        x = torch.zeros(count, 3, 4, 4)
        for i in range(3):
            if i == 1:
                x[1, 0, 0, 0] = float("inf")  # item 000001's state, at step 2
            callback({"i": i, "total": 3, "x": x})  # type: ignore[operator]
        return x

    sample_images(ctx, sample_batch)
    assert _images(out) == ["000000.png", "000002.png"]
    (failure,) = ctx.finite.failures
    assert (failure.key, failure.step, failure.what) == ("000001", 1, "the sampler's state")
    assert "000001: the sampler's state went non-finite (NaN or infinity) at step 2 of 3" in (
        ctx.console.file.getvalue()  # type: ignore[attr-defined]
    )
    again = _context(out, 3)
    sample_images(again, lambda count, noise, callback: torch.zeros(count, 3, 4, 4))
    assert _images(out) == ["000000.png", "000001.png", "000002.png"]


# ---------------------------------------------------------------------------------------------
# The watch: the first non-finite step of each item, and what went non-finite there


ITEMS = [ImageItem(key=f"i{k}", path=Path(f"i{k}.png")) for k in range(2)]


class NanAtCall(nn.Module):
    """Returns x, with row ``row`` NaN from call ``call`` on (called ``[x; x]`` when doubled)."""

    def __init__(self, row: int, call: int, doubled: bool = False) -> None:
        super().__init__()
        self.row, self.call, self.doubled, self.calls = row, call, doubled, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([x, x]) if self.doubled else x.clone()
        if self.calls >= self.call:
            out[self.row + (len(x) if self.doubled else 0)] = float("nan")
        self.calls += 1
        return out


def _toy_sampler(
    watch: FiniteWatch,
    net: nn.Module,
    energies: list[WeightedEnergy] = (),  # type: ignore[assignment]
    steps: int = 4,
) -> list[NonFinite | None]:
    """A toy sampler loop of ``steps`` steps: network, then guidance, then the state callback."""
    callback = watch.start(ITEMS, lambda info: None)
    x = torch.ones(2, 3, 2, 2)
    for i in range(steps):
        x = net(x)[: len(x)]
        if energies:
            x = x - energy_gradient(energies, x, GuidanceState())
        callback({"i": i, "total": steps, "x": x})
    return watch.finish(x)


def test_a_networks_output_is_named_with_the_item_and_step() -> None:
    watch = FiniteWatch()
    net = NanAtCall(row=1, call=2)
    watch.watch_network(net, "toy-net")
    first, second = _toy_sampler(watch, net)
    assert first is None
    assert second == NonFinite("i1", "i1.png", 2, 4, "the output of network toy-net")
    assert second.line() == (
        "the output of network toy-net went non-finite (NaN or infinity) at step 3 of 4"
    )


def test_a_network_called_on_a_doubled_batch_names_the_right_item() -> None:
    watch = FiniteWatch()
    net = NanAtCall(row=0, call=0, doubled=True)
    watch.watch_network(net, "cfg")
    first, second = _toy_sampler(watch, net)
    assert second is None
    assert first is not None and (first.step, first.what) == (0, "the output of network cfg")


def test_a_guidance_gradient_is_named_with_its_energy_and_weight_applied() -> None:
    watch = FiniteWatch()

    def huge(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return (y.flatten(1) * 1e30).sum(1)  # finite values; gradient 1e30 per element

    energy = WeightedEnergy("huge", 1e10, watch.watch_energy("huge", huge))  # 1e40 overflows
    first, second = _toy_sampler(watch, nn.Identity(), [energy])
    assert first is not None and second is not None
    assert (first.step, first.what) == (0, "the guidance gradient of energy huge")


def test_the_result_is_checked_after_the_last_step() -> None:
    watch = FiniteWatch()
    watch.start(ITEMS, lambda info: None)({"i": 0, "total": 1, "x": torch.zeros(2, 1)})
    first, second = watch.finish(torch.tensor([[0.0], [float("-inf")]]))
    assert first is None and second is not None
    assert second.where() == "after the last step (1)" and second.what == "the result"


def test_outside_a_batch_networks_and_energies_are_not_watched() -> None:
    watch = FiniteWatch()
    net = NanAtCall(row=0, call=0)
    watch.watch_network(net, "toy")
    net(torch.ones(2, 1))  # e.g. a training step: nothing recorded, nothing raised
    assert watch.failures == []


# ---------------------------------------------------------------------------------------------
# Nothing non-finite is written; result.json's list follows the last run


def test_write_image_refuses_nan_and_inf(tmp_path: Path) -> None:
    for value in (float("nan"), float("inf")):
        image = torch.zeros(3, 4, 4)
        image[0, 1, 1] = value
        with pytest.raises(I2IError, match="NaN or infinite"):
            write_image(image, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_result_json_lists_the_failures_and_a_clean_rerun_empties_the_list() -> None:
    failure = NonFinite("k", "k.png", 0, 6, "the output of network edm")
    listed = result_with_failures(None, None, [failure])
    assert listed == {FAILED_KEY: [failure.record()]}
    assert failure.record()["step"] == 1
    assert result_with_failures(listed, None, []) == {FAILED_KEY: []}
    assert result_with_failures(None, None, []) is None
    assert result_with_failures({FAILED_KEY: []}, {"fid": 3.0}, []) == {"fid": 3.0, FAILED_KEY: []}
