"""The docs' sigma-time sampler plugin (docs/plugins.md), installed and run exactly as printed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i_cli.cli.app import app
from tests.tiny_models import TINY_ADM_UNET, random_weights, toml_table

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PAGE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
BLOCK = re.compile(r"```(?:python|toml)\n# (i2i[-_]heun/[\w./]+)[^\n]*\n(.*?)```", re.DOTALL)


def page_files() -> dict[str, str]:
    """The page's code blocks whose first line names an ``i2i-heun`` / ``i2i_heun`` file."""
    return {name: body for name, body in BLOCK.findall(PAGE.read_text(encoding="utf-8"))}


def install(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin's package and a dist-info of its pyproject's entry points, on ``sys.path``."""
    files = page_files()
    assert set(files) == {
        "i2i-heun/pyproject.toml",
        "i2i_heun/plugin.py",
        "i2i_heun/settings.py",
        "i2i_heun/sample.py",
    }
    project = tomllib.loads(files["i2i-heun/pyproject.toml"])["project"]
    package = folder / "i2i_heun"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("plugin.py", "settings.py", "sample.py"):
        (package / name).write_text(files[f"i2i_heun/{name}"])
    info = folder / f"i2i_heun-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
            for group, entries in groups.items()
        )
    )
    monkeypatch.syspath_prepend(str(folder))


def test_docs_heun_plugin_samples_an_adm_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path / "dist", monkeypatch)
    weights = random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_UNET, tmp_path / "unet.pt")
    config = tmp_path / "tiny.toml"
    config.write_text(toml_table("model", TINY_ADM_UNET))
    cli = CliRunner()
    shown = cli.invoke(app, ["sample", "heun", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "--steps" in shown.output and "--s-churn" in shown.output
    out = tmp_path / "out"
    args = ["sample", "heun", "--config", str(config), "--checkpoint", str(weights)]
    args += ["--steps", "3", "--num-samples", "2", "--device", "cpu", "--output", str(out)]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    images = sorted(out.glob("*.png"))
    assert [p.name for p in images] == ["000000.png", "000001.png"]
    first, second = (np.asarray(Image.open(p)) for p in images)
    assert first.shape == (32, 32, 3)
    assert not np.array_equal(first, second)  # each image its own noise stream
    assert tomllib.loads((out / "run.toml").read_text())["steps"] == 3
