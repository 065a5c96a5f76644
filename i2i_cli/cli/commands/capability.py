"""What a plugin command is: the plugin kind it runs, the function it calls, its run options.

``translate``, ``sample``, ``train`` and ``evaluate`` are the four; every other module of the
plugin commands takes one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from i2i_cli.run.run_settings import EvaluateRun, RunSettings, SampleRun, TrainRun, TranslateRun


@dataclass(frozen=True)
class Capability:
    """A command that runs plugins: the plugin kind, descriptor function and run options.

    ``keeps_done`` commands resume by keeping the outputs already in their folder (translate,
    sample): a rerun with other settings would mix results, so it is refused unless
    ``--overwrite``. The others redo or check their outputs themselves (train compares the
    checkpoint's settings, evaluate recomputes its result). ``records_result`` commands write
    their folder only when they have a result (evaluate): a failed run leaves no folder behind.
    """

    command: str
    kind: str
    function: str
    run_model: type[RunSettings]
    keeps_done: bool = False
    records_result: bool = False


TRANSLATE = Capability("translate", "methods", "translate", TranslateRun, keeps_done=True)
SAMPLE = Capability("sample", "methods", "sample", SampleRun, keeps_done=True)
TRAIN = Capability("train", "trainers", "train", TrainRun)
EVALUATE = Capability("evaluate", "metrics", "evaluate", EvaluateRun, records_result=True)
