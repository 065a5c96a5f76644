"""A run that fails leaves the record of the earlier run, and no folder holding only its own."""

from __future__ import annotations

from pathlib import Path

from tests.robustness.run_helpers import error_line, make_images, snapshot, translate


def test_a_failed_strict_run_keeps_the_earlier_run_record(tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    make_images(source, 2)
    assert translate(source, out, "--batch-size", "2").returncode == 0
    before = (out / "run.toml").read_bytes()
    (source / "img5.png").write_bytes(b"broken")
    error_line(translate(source, out, "--strict", "--batch-size", "1"), "img5.png")
    assert (out / "run.toml").read_bytes() == before


def test_a_run_failing_before_any_work_removes_the_folder_it_made(tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "new" / "out"
    source.mkdir()
    (source / "img0.png").write_bytes(b"not a picture")
    error_line(translate(source, out), "could be read")
    assert not (tmp_path / "new").exists()


def test_a_run_failing_before_any_work_leaves_an_existing_folder_as_it_was(
    tmp_path: Path,
) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "img0.png").write_bytes(b"not a picture")
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    error_line(translate(source, out), "could be read")
    assert snapshot(out) == {"notes.txt": b"mine"}
