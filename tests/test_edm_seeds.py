"""EDM's ``--seeds`` syntax (``generate.py:parse_int_list``), output keys and per-seed noise."""

from __future__ import annotations

from importlib import resources

import pytest
import torch

from i2i_cli.api.settings import SettingsError, parse_toml, validate
from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.noise import SeedNoise, seed_of_key
from i2i_cli.networks.backbones import backbone_descriptor, backbone_presets
from i2i_cli.run.seed_sampling import seed_items
from i2i_cli.run.seeds import MAX_SEEDS, parse_seeds, seed_key
from i2i_edm.settings import EdmSampleSettings


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0", [0]),
        ("3-5", [3, 4, 5]),
        ("0,5,7-9", [0, 5, 7, 8, 9]),
        ("10-10", [10]),
        ("9,2,4-5", [9, 2, 4, 5]),
        (" 1 , 2-3 ", [1, 2, 3]),
    ],
)
def test_seed_lists_parse_as_edm_in_the_order_given(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds


def test_the_fid_range_is_fifty_thousand_seeds() -> None:
    seeds = parse_seeds("0-49999")
    assert len(seeds) == 50_000 and seeds[0] == 0 and seeds[-1] == 49_999


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5-3", "the range 5-3 is reversed"),
        ("1,,2", "'' is not a seed"),
        ("-1", "'-1' is not a seed"),
        ("1-2-3", "'1-2-3' is not a seed"),
        ("a", "'a' is not a seed"),
        ("1.5", "'1.5' is not a seed"),
        ("1,2,1", "seed 1 is listed twice"),
        ("0-5,3", "seed 3 is listed twice"),
        (f"0-{MAX_SEEDS}", "more than"),
    ],
)
def test_bad_seed_lists_are_one_usage_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=r"^--seeds: ") as caught:
        parse_seeds(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_settings_refuse_a_bad_seed_list_when_read() -> None:
    with pytest.raises(SettingsError, match="reversed"):
        validate(EdmSampleSettings, {"seeds": "9-1"})
    assert validate(EdmSampleSettings, {"seeds": "0-3"}).seeds == "0-3"


def test_keys_are_six_digits_and_subdirs_group_by_thousand() -> None:
    assert seed_key(7) == "000007"
    assert seed_key(1234567) == "1234567"
    assert seed_key(999, subdirs=True) == "000000/000999"
    assert seed_key(12345, subdirs=True) == "012000/012345"
    assert [seed_of_key(k) for k in ("000007", "012000/012345")] == [7, 12345]


def test_seeds_win_over_num_samples() -> None:
    given = seed_items(EdmSampleSettings(seeds="4,2"), num_samples=16)
    assert [item.key for item in given] == ["000004", "000002"]
    default = seed_items(EdmSampleSettings(subdirs=True), num_samples=2)
    assert [item.key for item in default] == ["000000/000000", "000000/000001"]


def test_seed_noise_is_edms_stacked_generator_per_key() -> None:
    """Row b of every draw comes from ``torch.Generator().manual_seed(seed_b)``, in EDM's order."""
    noise = SeedNoise(123, ["000000/000005", "000002"])
    latents = noise.randn((2, 3, 4, 4))
    labels = noise.randint(10)
    eps = noise.randn_like(torch.zeros(2, 3, 4, 4, dtype=torch.float64))
    for row, seed in enumerate((5, 2)):
        generator = torch.Generator().manual_seed(seed)
        assert torch.equal(latents[row], torch.randn([3, 4, 4], generator=generator))
        assert int(labels[row]) == int(torch.randint(10, (), generator=generator))
        expected = torch.randn([3, 4, 4], generator=generator, dtype=torch.float64)
        assert torch.equal(eps[row], expected)


def task_presets() -> dict[str, dict[str, object]]:
    """``tasks/edm/<name>.toml`` of ``i2i sample edm``, parsed."""
    folder = resources.files("i2i_edm.tasks.edm")
    tables = {}
    for file in folder.iterdir():
        if file.name.endswith(".toml"):
            tables[file.name[: -len(".toml")]] = parse_toml(file.read_text(), file.name)
    return tables


def test_every_task_names_an_official_preset_and_artifact_with_edms_steps() -> None:
    """EDM's README settings (dg.md §3) on each of the nine official pickles (§2.4)."""
    presets = set(backbone_presets(backbone_descriptor("edm")))
    manifest = resources.files("i2i_edm").joinpath("checkpoints.toml").read_text()
    artifacts = set(parse_toml(manifest, "checkpoints.toml")["artifacts"])
    tasks = task_presets()
    assert len(tasks) == 9
    for name, table in tasks.items():
        assert table["preset"] in presets and table["checkpoint"] in artifacts, name
        settings = validate(EdmSampleSettings, {k: v for k, v in table.items() if k != "run"})
        assert len(parse_seeds(settings.seeds)) == 50_000 and settings.subdirs
        steps = {"cifar10": 18, "ffhq": 40, "afhqv2": 40, "imagenet": 256}[name.split("-")[0]]
        assert settings.steps == steps, name
        churn = (40.0, 0.05, 50.0, 1.003) if steps == 256 else (0.0, 0.0, float("inf"), 1.0)
        assert (settings.s_churn, settings.s_min, settings.s_max, settings.s_noise) == churn
    assert EdmSampleSettings().preset is None  # the checkpoint's own record decides
    assert EdmSampleSettings().checkpoint in artifacts
