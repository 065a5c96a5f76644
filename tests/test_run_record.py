"""The run record's comparison: which settings shape the outputs, and how differences read."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from i2i_cli.api.settings import Settings, to_toml
from i2i_cli.io.run_record import (
    KEEPS_OUTPUTS,
    RUN_RECORD,
    describe,
    holds_outputs,
    kept_fields,
    record_differences,
    shaping_settings,
)


class Example(Settings):
    steps: int = 4
    seeds: str = Field("", json_schema_extra={KEEPS_OUTPUTS: True})


def record(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "steps": 4,
        "seeds": "0-9",
        "model": {"width": 32},
        "i2i": {"command": "sample", "plugin": "x", "version": "1", "created": "now"},
        "run": {"seed": 0, "precision": "fp32", "device": "cpu", "batch_size": 8},
    }
    base.update(changes)
    return base


def test_marked_fields_and_where_or_how_fast_a_run_goes_are_not_compared() -> None:
    kept = kept_fields(Example)
    assert kept == {"seeds"}
    shaping = shaping_settings(record(), kept)
    assert shaping == {
        "i2i.command": "sample",
        "i2i.plugin": "x",
        "steps": 4,
        "model.width": 32,
        "run.seed": 0,
        "run.precision": "fp32",
    }


def test_differences_name_each_setting_with_both_values(tmp_path: Path) -> None:
    (tmp_path / RUN_RECORD).write_text(to_toml(record()))
    (tmp_path / "000000.png").write_bytes(b"")
    now = record(steps=8, seeds="0-99", model={"width": 64}, run={"seed": 0, "device": "cuda"})
    assert record_differences(tmp_path, now, kept_fields(Example)) == [
        "model.width: 32 -> 64",
        "run.precision: 'fp32' -> unset",
        "steps: 4 -> 8",
    ]
    assert record_differences(tmp_path, record(), kept_fields(Example)) == []


def test_a_folder_with_nothing_but_its_record_holds_no_run(tmp_path: Path) -> None:
    assert record_differences(tmp_path / "absent", record(), frozenset()) is None
    (tmp_path / RUN_RECORD).write_text(to_toml(record()))
    (tmp_path / ".img.png.0a1b.tmp").write_bytes(b"")
    assert not holds_outputs(tmp_path)
    assert record_differences(tmp_path, record(steps=9), frozenset()) is None


def test_many_differences_stay_on_one_short_line() -> None:
    line = describe([f"s{i}: 0 -> 1" for i in range(9)])
    assert line.endswith("; and 5 more") and "\n" not in line


def test_more_seeds_or_an_npz_continue_a_seed_run() -> None:
    """EDM's --seeds picks which images, not what each one is; --npz is made from them."""
    from i2i_edm.settings import EdmSampleSettings

    assert {"seeds", "npz"} <= kept_fields(EdmSampleSettings)
    assert "subdirs" not in kept_fields(EdmSampleSettings)  # it moves every output
