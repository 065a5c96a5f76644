"""Plugins through entry points: third-party distributions, broken plugins, duplicate names."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i_cli.api.plugin import FunctionRef, Method
from i2i_cli.api.registry import Registry
from i2i_cli.api.settings import Settings
from i2i_cli.base.errors import PluginError
from i2i_cli.cli.app import app
from tests.conftest import DISTS, run_i2i
from tests.fixture_dists import use_dists


def write_image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 12, 3), value, dtype=np.uint8)).save(path)


def test_third_party_method_is_listed_and_runs_through_translate(tmp_path: Path) -> None:
    listing = run_i2i(["plugins"], dists=["hello"], env={"COLUMNS": "200"})
    assert listing.returncode == 0, listing.stderr
    assert "negate" in listing.stdout
    assert "i2i-hello 0.2.0" in listing.stdout
    write_image(tmp_path / "in" / "grey.png", 64)
    result = run_i2i(
        [
            "translate",
            "negate",
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--image-size",
            "8",
        ],
        dists=["hello"],
    )
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "grey.png"))
    assert out.shape == (8, 8, 3)
    assert abs(int(out[0, 0, 0]) - (255 - 64)) <= 1


def test_third_party_metric_runs_through_evaluate_and_writes_json(tmp_path: Path) -> None:
    for index, value in enumerate((0, 255)):
        write_image(tmp_path / "imgs" / f"{index}.png", value)
    result = run_i2i(
        [
            "evaluate",
            "mean-value",
            "--images",
            str(tmp_path / "imgs"),
            "--output",
            str(tmp_path / "eval"),
            "--device",
            "cpu",
        ],
        dists=["hello"],
    )
    assert result.returncode == 0, result.stderr
    record = (tmp_path / "eval" / "result.json").read_text()
    assert '"images": 2' in record
    assert '"value": 0.0' in record
    assert "mean-value" in result.stdout


def test_broken_plugin_is_listed_and_only_its_command_fails(tmp_path: Path) -> None:
    listing = run_i2i(["plugins"], dists=["broken"], env={"COLUMNS": "250"})
    assert listing.returncode == 0
    assert "broken" in listing.stdout
    assert "i2i-broken 1.0" in listing.stdout
    assert "ModuleNotFoundError" in listing.stdout
    failing = run_i2i(["translate", "broken", "--input", "x"], dists=["broken"])
    assert failing.returncode == 2
    assert failing.stderr.strip().count("\n") == 0
    assert "failed to load" in failing.stderr
    assert "Traceback" not in failing.stderr
    working = run_i2i(
        ["translate", "smoke", "--output", str(tmp_path / "o"), "--device", "cpu"],
        dists=["broken", "smoke"],
    )
    assert working.returncode == 0, working.stderr


def test_same_name_from_two_distributions_is_an_error_naming_both() -> None:
    result = run_i2i(["translate", "sdedit", "--dry-run"], dists=["dupe"])
    assert result.returncode == 2
    assert "i2i-dupe 1.0" in result.stderr
    assert "i2i 0.1.0" in result.stderr
    listing = run_i2i(["plugins"], dists=["dupe"], env={"COLUMNS": "250"})
    assert "registered by two distributions" in listing.stdout


def test_discovery_imports_no_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DISTS / "hello"))
    sys.modules.pop("i2i_hello.plugin", None)
    registry = Registry.discover()
    assert "negate" in registry.names("methods")
    assert "i2i_hello.plugin" not in sys.modules
    method = registry.load("methods", "negate")
    assert method.summary.startswith("Negate")
    with pytest.raises(PluginError, match="no method plugin named 'nope'"):
        registry.load("methods", "nope")


def test_first_party_plugins_register_like_third_party_ones() -> None:
    entry = Registry.discover().entry("methods", "egsde")
    assert entry.distribution == "i2i"
    assert entry.target == "i2i_egsde.plugin:egsde"


def test_smoke_is_a_test_fixture_not_a_shipped_method() -> None:
    assert "smoke" not in Registry.discover().names("methods")


def test_a_function_reference_is_imported_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    use_dists(monkeypatch, "hello")
    sys.modules.pop("i2i_hello.plugin", None)
    method = Method(summary="s", settings=Settings, translate="i2i_hello.plugin:translate")
    assert isinstance(method.translate, FunctionRef)
    assert "i2i_hello.plugin" not in sys.modules
    function = method.function("translate")
    assert function is sys.modules["i2i_hello.plugin"].translate
    assert method.function("sample") is None


def test_descriptors_hold_functions_themselves_too() -> None:
    method = Method(summary="s", settings=Settings, sample=len)
    assert method.function("sample") is len
    assert method.sample("abc") == 3


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("i2i_nowhere.plugin:translate", "ModuleNotFoundError: No module named 'i2i_nowhere'"),
        ("i2i_cli.api.plugin:nothing", "AttributeError"),
        ("i2i_cli.api.plugin", "is not a 'module:function' reference"),
        ("i2i_cli.api.plugin:FUNCTION", "is a mappingproxy, not a function"),
    ],
)
def test_a_bad_reference_is_one_line_naming_the_plugin_and_the_reference(
    reference: str, reason: str
) -> None:
    method = Method(summary="s", settings=Settings, translate=reference)
    named = method.registered_as("method 'bad'")
    with pytest.raises(PluginError) as raised:
        named.translate(None, None)
    message = str(raised.value)
    assert message.startswith("method 'bad': ")
    assert repr(reference) in message
    assert reason in message
    assert "\n" not in message


def test_a_reference_that_does_not_import_stops_the_command_before_it_writes(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_dists(monkeypatch, "badref")
    result = cli.invoke(app, ["translate", "badref", "--output", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: method 'badref': function 'i2i_badref.missing:translate' cannot be loaded: "
        "ModuleNotFoundError: No module named 'i2i_badref.missing'"
    )
    assert not (tmp_path / "out").exists()
