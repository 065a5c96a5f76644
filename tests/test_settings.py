"""Settings: layering, validation messages, --set parsing and the TOML record."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import Field
from typer.testing import CliRunner

from i2i_cli.api.settings import Settings, parse_assignment, to_toml, validate
from i2i_cli.base.errors import UsageError
from i2i_cli.cli.app import app
from tests.fixture_dists import use_dists

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


@pytest.fixture(autouse=True)
def smoke_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke method is a test fixture distribution, not a shipped plugin."""
    use_dists(monkeypatch, "smoke")


def dry_run(cli: CliRunner, *args: str) -> dict:
    """The resolved settings that ``--dry-run`` prints, parsed."""
    result = cli.invoke(app, ["translate", "smoke", *args, "--dry-run"])
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.stdout)


def test_defaults_come_from_the_settings_model(cli: CliRunner) -> None:
    resolved = dry_run(cli)
    assert resolved["noise_level"] == 0.1
    assert resolved["steps"] == 4
    assert resolved["run"]["seed"] == 0
    assert resolved["run"]["output"] == str(Path("runs/translate/smoke"))
    assert resolved["i2i"]["plugin"] == "smoke"


def test_precedence_defaults_task_config_set_flags(cli: CliRunner, tmp_path: Path) -> None:
    # task gentle: noise_level 0.05, steps 2, seed 1234, batch 4
    assert dry_run(cli, "--task", "gentle")["steps"] == 2
    config = tmp_path / "c.toml"
    config.write_text("steps = 3\nnoise_level = 0.2\n[run]\nseed = 7\n")
    resolved = dry_run(cli, "--task", "gentle", "--config", str(config))
    assert (resolved["steps"], resolved["noise_level"], resolved["run"]["seed"]) == (3, 0.2, 7)
    assert resolved["run"]["batch_size"] == 4  # from the task, untouched by the config
    resolved = dry_run(
        cli, "--task", "gentle", "--config", str(config), "--set", "steps=5", "--set", "run.seed=9"
    )
    assert (resolved["steps"], resolved["run"]["seed"]) == (5, 9)
    resolved = dry_run(
        cli,
        "--task",
        "gentle",
        "--config",
        str(config),
        "--set",
        "steps=5",
        "--steps",
        "6",
        "--seed",
        "11",
    )
    assert (resolved["steps"], resolved["run"]["seed"]) == (6, 11)
    assert resolved["i2i"]["task"] == "gentle"
    assert resolved["run"]["output"] == str(Path("runs/translate/smoke-gentle"))


def test_validation_error_names_field_value_and_allowed_range(cli: CliRunner) -> None:
    result = cli.invoke(app, ["translate", "smoke", "--noise-level", "2", "--dry-run"])
    assert result.exit_code == 2
    assert "noise_level" in result.stderr
    assert "2.0" in result.stderr
    assert "less than or equal to 1" in result.stderr
    assert "Traceback" not in result.output


def test_bad_literal_lists_the_allowed_values(cli: CliRunner) -> None:
    result = cli.invoke(app, ["translate", "smoke", "--precision", "fp64", "--dry-run"])
    assert result.exit_code == 2
    assert "run.precision" in result.stderr
    assert "'fp32', 'bf16' or 'fp16'" in result.stderr


def test_unknown_setting_in_config_is_an_error(cli: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("stepz = 3\n")
    result = cli.invoke(app, ["translate", "smoke", "--config", str(config), "--dry-run"])
    assert result.exit_code == 2
    assert "unknown setting 'stepz'" in result.stderr
    assert "steps" in result.stderr


def test_broken_config_and_missing_config_are_one_line_errors(
    cli: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("steps = = 3\n")
    result = cli.invoke(app, ["translate", "smoke", "--config", str(config), "--dry-run"])
    assert result.exit_code == 2
    assert "is not valid TOML" in result.stderr
    missing = cli.invoke(app, ["translate", "smoke", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


def test_unknown_task_lists_the_tasks(cli: CliRunner) -> None:
    result = cli.invoke(app, ["translate", "smoke", "--task", "nope", "--dry-run"])
    assert result.exit_code == 2
    assert "unknown task 'nope'" in result.stderr
    assert "gentle" in result.stderr


def test_set_needs_a_key_and_a_value(cli: CliRunner) -> None:
    result = cli.invoke(app, ["translate", "smoke", "--set", "steps", "--dry-run"])
    assert result.exit_code == 2
    assert "dotted.key=value" in result.stderr


def test_set_values_are_read_as_toml_or_plain_strings() -> None:
    assert parse_assignment("a.b=3") == {"a": {"b": 3}}
    assert parse_assignment("x=0.5") == {"x": 0.5}
    assert parse_assignment("flag=true") == {"flag": True}
    assert parse_assignment("xs=[1, 2]") == {"xs": [1, 2]}
    assert parse_assignment("name=wild2dog") == {"name": "wild2dog"}
    with pytest.raises(UsageError):
        parse_assignment("=3")


def test_toml_record_round_trips() -> None:
    data = {
        "a": 1,
        "b": 0.25,
        "c": 'text with "quotes" and \\',
        "d": [1, 2],
        "e": True,
        "skip": None,
        "energies": {"dse": {"weight": 500.0}, "lowpass": {"weight": 2.0, "factor": 32}},
        "run": {"seed": 3, "output": "runs/x"},
    }
    expected = {k: v for k, v in data.items() if v is not None}
    assert tomllib.loads(to_toml(data)) == expected


class Example(Settings):
    steps: int = Field(10, ge=1, le=100, description="steps")


def test_settings_forbid_extra_keys_and_are_frozen() -> None:
    with pytest.raises(UsageError, match="unknown setting 'other'"):
        validate(Example, {"other": 1})
    settings = validate(Example, {"steps": 3})
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        settings.steps = 4  # type: ignore[misc]


def test_unknown_keys_of_one_table_list_the_known_settings_once() -> None:
    """Issue 29: a run.toml given as --config once printed the known-settings list ten times."""
    from pydantic import Field

    from i2i_cli.api.settings import Settings, validate

    class Few(Settings):
        steps: int = Field(1, description="Steps.")
        seed: int = Field(0, description="Seed.")

    with pytest.raises(UsageError) as error:
        validate(Few, {"steps": 2, "lr": 0.1, "data": "x", "workers": 0})
    message = str(error.value)
    assert message == "unknown settings 'lr', 'data', 'workers' (known settings: steps, seed)"
