"""Non-finite numbers in settings: NaN and infinity are refused in every float setting.

The cases are generated at test time: every float field (nested models included) of every
registered plugin's settings (methods, backbones, energies, metrics, trainers) and of every
command's run settings, each given NaN, +inf and -inf. A field where infinity means "no bound"
(``allow_inf_nan=True``, e.g. ``s_max``) takes +inf and still refuses NaN and -inf. Then the
ways a number reaches the settings on the command line: ``--energy``, ``--set``, a flag, TOML.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from i2i_cli.api.registry import KINDS, Registry
from i2i_cli.api.settings import SettingsError, validate
from i2i_cli.cli.commands.capability import EVALUATE, SAMPLE, TRAIN, TRANSLATE
from tests.conftest import run_i2i
from tests.robustness.run_helpers import error_line

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _models() -> dict[str, type[BaseModel]]:
    """Every registered plugin's settings model and every command's run model, by label."""
    registry = Registry.discover()
    models: dict[str, type[BaseModel]] = {}
    for kind in KINDS:
        for name in registry.names(kind):
            settings = getattr(registry.load(kind, name), "settings", None)
            if settings is not None:
                models[f"{kind}:{name}"] = settings
    for capability in (TRANSLATE, SAMPLE, TRAIN, EVALUATE):
        models[f"run:{capability.command}"] = capability.run_model
    return models


def _holds_float(annotation: object) -> bool:
    """Whether a field's type is float, or float inside an optional, a union or a container."""
    return annotation is float or any(_holds_float(a) for a in typing.get_args(annotation))


def _nested(annotation: object) -> Iterator[type[BaseModel]]:
    """The models a field's type holds (itself, or inside an optional, union or container)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _nested(argument)


def _float_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[tuple]:
    """``(model, field name, FieldInfo)`` of every float field of ``model`` and its nested ones."""
    seen.add(model)
    for name, info in model.model_fields.items():
        if _holds_float(info.annotation):
            yield model, name, info
        for inner in _nested(info.annotation):
            if inner not in seen:
                yield from _float_fields(inner, seen)


def _cases() -> list[tuple[str, type[BaseModel], str, FieldInfo]]:
    cases = {}
    for label, model in _models().items():
        for owner, name, info in _float_fields(model, set()):
            where = label if owner is model else f"{label}:{owner.__name__}"
            cases[(owner, name)] = (f"{where}.{name}", owner, name, info)
    return list(cases.values())


CASES = _cases()


def _value(value: float, annotation: object) -> object:
    """``value`` in the shape the field takes (a list of it for a list of floats)."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (list, tuple) or any(typing.get_origin(a) in (list, tuple) for a in args):
        return [value]
    return value


def _means_no_bound(info: FieldInfo) -> bool:
    """Whether the field declares infinity as a value (``allow_inf_nan=True``)."""
    return any(getattr(item, "allow_inf_nan", None) is True for item in info.metadata)


@pytest.mark.parametrize("spelled", list(NON_FINITE))
@pytest.mark.parametrize(("label", "model", "name", "info"), CASES, ids=[c[0] for c in CASES])
def test_a_non_finite_number_is_refused_in_every_float_setting(
    label: str, model: type[BaseModel], name: str, info: FieldInfo, spelled: str
) -> None:
    value = _value(NON_FINITE[spelled], info.annotation)
    if spelled == "inf" and _means_no_bound(info):
        try:
            validate(model, {name: value})
        except SettingsError as error:
            assert f"'{name}'" not in str(error), error  # other required fields may be missing
        return
    with pytest.raises(SettingsError) as refused:
        validate(model, {name: value})
    message = str(refused.value)
    assert f"invalid setting '{name}" in message, message
    if not _means_no_bound(info):
        assert "it must be a finite number" in message, message


def test_infinity_as_no_bound_is_documented_where_it_is_allowed() -> None:
    labels = {case[0].split(":")[0] for case in CASES}
    assert {"methods", "backbones", "energies", "trainers"} <= labels  # the reach
    unbounded = [case for case in CASES if _means_no_bound(case[3])]
    assert unbounded, "s_max takes inf (EDM's S_tmax default)"
    for label, _, _, info in unbounded:
        assert "inf" in (info.description or ""), label
        assert info.default == math.inf or info.default is None, label


# ---------------------------------------------------------------------------------------------
# Every way a number reaches the settings: --energy, --set, a generated flag, a TOML file


def _dry_run(*args: str) -> list[str]:
    return [*args, "--device", "cpu", "--dry-run"]


def test_energy_weights_nan_and_inf_are_one_line() -> None:
    for weight in ("nan", "inf", "-inf"):
        result = run_i2i(_dry_run("translate", "egsde", "--energy", f"lowpass:weight={weight}"))
        error_line(result, "energy.0.weight", weight, "finite number")


def test_a_set_a_flag_and_a_toml_file_refuse_nan_and_inf(tmp_path: Path) -> None:
    result = run_i2i(_dry_run("translate", "egsde", "--set", "model.dropout=nan"))
    error_line(result, "dropout", "nan", "finite number")  # a backbone setting
    result = run_i2i(_dry_run("sample", "edm", "--s-churn", "inf"))
    error_line(result, "s_churn", "inf", "finite number")
    config = tmp_path / "nan.toml"
    config.write_text('[[energy]]\nname = "lowpass"\nweight = nan\n')
    result = run_i2i(_dry_run("translate", "egsde", "--config", str(config)))
    error_line(result, "energy.0.weight", "nan", "finite number")
    accepted = run_i2i(_dry_run("sample", "edm", "--set", "s_max=inf"))  # inf: no bound
    assert accepted.returncode == 0, accepted.stderr
    assert "s_max = inf" in accepted.stdout
    error_line(run_i2i(_dry_run("sample", "edm", "--set", "s_max=nan")), "s_max", "nan")
