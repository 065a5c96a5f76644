"""Every command the README and the docs pages show runs: a renamed flag, task, plugin or
subcommand fails here.

The commands are read from the pages' fenced shell blocks (``bash``, ``sh``, ``console``,
``shell``): ``\\`` continues a line, ``#`` starts a comment, a line that ends inside a quote goes
on to the next, and ``&&``, ``||``, ``;`` and ``|`` separate commands. Where a block shows
``$ `` prompts, only the prompted lines are commands (the rest is what they print). A bare
``...`` stands for "the flags above" and is dropped.

Each ``i2i`` command (also as ``python -m i2i_cli`` or ``torchrun ... -m i2i_cli``) runs in
this process, in its own empty folder and checkpoint cache, and must exit 0:

- a plugin command (translate, sample, train, evaluate) runs with ``--dry-run``, which resolves
  and checks every setting without reading weights or data; ``RUN_FOR_REAL`` are fast enough
  to run as they are;
- ``i2i download NAME|--exp E`` would fetch gigabytes: it runs with ``--list``, which checks
  every name and experiment and lists what would be fetched; ``--list`` and ``--verify`` run
  as they are;
- a ``--config`` file an earlier command of the page writes (``out/run.toml``,
  ``runs/train/dog/backbone.toml``) is written first from that command's ``--dry-run`` record;
- ``CANNOT_RUN`` names each command that cannot run even so, with the reason; its subcommand
  and every flag it gives are checked against its ``--help``.

Any other program (pip, git, python scripts, mkdocs) is not run: it is listed as a skip, must
be in ``OTHER_PROGRAMS``, and a ``python benchmarks/x.py`` must name a file that exists.
"""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_i2i
from tests.docs_shell import (
    ROOT,
    SHELL_FENCE,
    DocCommand,
    docs_commands,
    docs_pages,
    text_commands,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


PLUGIN_COMMANDS = frozenset({"translate", "sample", "train", "evaluate"})
"""The subcommands whose every plugin command has ``--dry-run``."""

RUN_FOR_REAL = frozenset({"sample ddib --task checkerboards --num-samples 5000"})
"""Plugin commands fast enough to run as they are (a few seconds, bundled models)."""

CANNOT_RUN = {
    "download --from '~/Downloads/afhq_dog_4m.pt' afhq_dog_4m": "adopts a file the user "
    "downloaded by hand; there is none here",
    "download --from '~/Downloads/vgg_normalised.pth' sddm_vgg_normalised": "adopts a file the "
    "user downloaded by hand; there is none here",
    "download --from '~/Downloads/uc?id=14OG...' afhq_dog_4m": "shows the error a saved web "
    "page gives; the page is not here (and the command is meant to fail)",
    "download --from runs/train/bbdm/model.pt sde_bbdm_unet": "adopts the weights `i2i train "
    "bbdm` exports after hours of training",
    "download --from '~/Downloads/model.ckpt' bbdm_vqgan_f4": "adopts a file the user "
    "downloaded by hand; there is none here",
    "plugins --inspect training-runs/00000-cifar10-cond-ddpmpp-edm/network-snapshot-200000.pkl "
    "--backbone edm": "reads a snapshot of the user's own EDM training run; --inspect has no "
    "dry run",
}
"""The ``i2i`` commands (their arguments as ``DocCommand.args_text``) that cannot run here even
with ``--dry-run`` or ``--list``, and why."""

OTHER_PROGRAMS = {
    "pip": "installs packages",
    "python": "a script or module that is not i2i",
    "git": "fetches a reference repository",
    "mkdocs": "builds the docs site (CI's docs step)",
    "ruff": "the linter (CI's lint step)",
    "lint-imports": "the import rules (CI's import-linter step, pyproject.toml contracts)",
    "mkdir": "makes a folder for a reference copy",
    "tar": "unpacks a reference copy",
}
"""Programs the docs run besides ``i2i``: listed as skips, never run."""


def _value_of(args: tuple[str, ...], flag: str) -> str | None:
    """The value given to ``flag`` in ``args`` (the last one), None when not given."""
    values = [args[i + 1] for i, word in enumerate(args[:-1]) if word == flag]
    return values[-1] if values else None


def runnable_args(args: tuple[str, ...]) -> tuple[str, ...]:
    """``args`` as this test runs them: with ``--dry-run`` or ``--list`` where they would
    fetch weights or compute for long (the module's docstring)."""
    if "--help" in args:
        return args
    if args[0] in PLUGIN_COMMANDS:
        if shlex.join(args) in RUN_FOR_REAL or "--dry-run" in args:
            return args
        return (*args, "--dry-run")
    if args[0] == "download" and not {"--list", "--verify"} & set(args):
        return (*args, "--list")
    return args


def subcommand_of(args: tuple[str, ...]) -> list[str]:
    """The subcommand ``args`` run: ``translate ddib``, ``download``."""
    return list(args[:2] if args[0] in PLUGIN_COMMANDS else args[:1])


def write_stand_ins(command: DocCommand, commands: list[DocCommand], folder: Path) -> None:
    """Write the ``--config`` file ``command`` reads that an earlier command of its page
    writes, from that command's ``--dry-run`` record (``run.toml`` as it is, ``backbone.toml``
    as its trainer writes it for the network the record names)."""
    from i2i_cli.training.backbone_record import backbone_record

    config = _value_of(command.args or (), "--config")
    if config is None or (folder / config).exists():
        return
    path = Path(config)
    earlier = commands[: commands.index(command)] if command in commands else commands
    writers = [
        other
        for other in earlier
        if other.page == command.page
        and other.args
        and Path(_value_of(other.args, "--output") or "-") == path.parent
    ]
    assert writers, f"{command.where}: reads {config}, which no earlier command writes"
    writer = writers[-1]
    record = run_i2i([*runnable_args(writer.args), "--dry-run"], cwd=folder, env=writer.env)
    assert record.returncode == 0, f"{writer.where}: {record.stderr}"
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if path.name == "backbone.toml":
        settings = tomllib.loads(record.stdout)
        network = {k: settings[k] for k in ("backbone", "preset", "model") if k in settings}
        weights = folder / path.parent / "model.pt"
        trainer = " ".join(["i2i", *subcommand_of(writer.args)])
        target.write_text(backbone_record(network, weights, trainer, "--config"))
    else:
        target.write_text(record.stdout)


def check_command(
    command: DocCommand, commands: list[DocCommand], folder: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as this test does (the module's docstring), in ``folder``."""
    args = command.args
    assert args, f"{command.where}: `{command.text}` is not an i2i command"
    reason = CANNOT_RUN.get(command.args_text)
    if reason is not None:
        return check_flags(command)
    write_stand_ins(command, commands, folder)
    result = run_i2i(list(runnable_args(args)), cwd=folder, env=command.env)
    names = artifact_names(args)
    if result.returncode != 0 or not names:
        return result
    return run_i2i(["download", "--list", *names])  # a dry run reads no checkpoint


ARTIFACT_FLAGS = frozenset(
    {"--checkpoint", "--source-checkpoint", "--target-checkpoint", "--trunk", "--heads"}
)
"""Flags that take a checkpoint: a file, or the name of an artifact of the manifests."""

ARTIFACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
"""A checkpoint value that is an artifact's name, not a file's path."""


def artifact_names(args: tuple[str, ...]) -> list[str]:
    """The artifact names ``args`` give as checkpoints (also ``--energy x:checkpoint=NAME``)."""
    given = [value for flag, value in itertools.pairwise(args) if flag in ARTIFACT_FLAGS]
    for flag, value in itertools.pairwise(args):
        if flag == "--energy":
            given += re.findall(r"checkpoint=([^,]+)", value)
    return [name for name in given if ARTIFACT_NAME.match(name)]


def check_flags(command: DocCommand) -> subprocess.CompletedProcess[str]:
    """``--help`` of ``command``'s subcommand, exit 2 unless it names every flag the command
    gives."""
    args = command.args or ()
    result = run_i2i([*subcommand_of(args), "--help"], env={"COLUMNS": "300"})
    missing = [word for word in args if word.startswith("--") and word not in result.stdout]
    if result.returncode == 0 and missing:
        return subprocess.CompletedProcess(
            result.args, 2, result.stdout, f"error: no such option: {', '.join(missing)}"
        )
    return result


COMMANDS = docs_commands()
I2I_COMMANDS = [command for command in COMMANDS if command.args]
OTHER_COMMANDS = [command for command in COMMANDS if not command.args]


def _id(command: DocCommand) -> str:
    """``page:line:first-words``: which command a test runs."""
    return f"{command.where}:{'-'.join(command.words[:3])}"


@pytest.mark.parametrize("command", I2I_COMMANDS, ids=_id)
def test_docs_command_runs(command: DocCommand, tmp_path: Path) -> None:
    result = check_command(command, COMMANDS, tmp_path)
    shown = f"{command.where}: `{command.text}` exited {result.returncode}"
    assert result.returncode == 0, f"{shown}\n{result.stderr}"
    assert "Traceback" not in result.stderr, f"{shown}\n{result.stderr}"


@pytest.mark.parametrize("command", OTHER_COMMANDS, ids=_id)
def test_docs_command_of_another_program_is_listed(command: DocCommand) -> None:
    program = command.words[0]
    assert program in OTHER_PROGRAMS, f"{command.where}: `{command.text}` runs unknown {program}"
    script = command.words[1] if len(command.words) > 1 else ""
    if program == "python" and script.endswith(".py"):
        assert (ROOT / script).is_file(), f"{command.where}: no script {script}"
    shown = command.text.splitlines()[0] + (" ..." if "\n" in command.text else "")
    pytest.skip(f"not run ({OTHER_PROGRAMS[program]}): {shown}")


def test_every_command_that_cannot_run_is_still_in_the_docs() -> None:
    shown = {command.args_text for command in I2I_COMMANDS}
    assert set(CANNOT_RUN) <= shown, set(CANNOT_RUN) - shown
    assert shown >= RUN_FOR_REAL, RUN_FOR_REAL - shown


WRONG_PAGE = """
```bash
i2i translate ddib --task moons2squares --stepz 20     # a renamed flag
i2i translate ddib --task moons2circles                # a task that does not exist
i2i translate ddibb --task moons2squares               # a plugin that does not exist
i2i transl ddib --task moons2squares                   # a subcommand that does not exist
OMP_NUM_THREADS=1 i2i train ddib-2d --task moons --quik
i2i download --exp imagenett
i2i translate sde-bbdm --input edges/ --checkpoint no_such_artifact
i2i translate egsde --task wild2dog --input in/ --energy dse:weight=7,checkpoint=no_such_dse
```
```console
$ i2i download --lst
error: this is output, not a command
$ i2i download --from a.pt afhq_dog_4m --forse \\
    # a wrong flag in a command that cannot run
```
"""


@pytest.mark.parametrize("command", text_commands(WRONG_PAGE, "wrong.md"), ids=_id)
def test_a_wrong_command_fails_the_check(command: DocCommand, tmp_path: Path) -> None:
    cannot_run = {"download --from a.pt afhq_dog_4m --forse": "no such file"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys.modules[__name__], "CANNOT_RUN", cannot_run)
        result = check_command(command, [command], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_blocks_are_split_into_commands() -> None:
    page = (
        "text\n```bash\n# a comment\nA=1 i2i x --y 'a b' \\\n  --z 2   # says\n"
        'pip install -e . && i2i p\npython -c "one\ntwo" D\n...\n```\n'
        "```python\ni2i not-shell\n```\n"
        "```console\n$ i2i q\nprinted\n```\n"
    )
    commands = text_commands(page, "p.md")
    assert [(c.line, c.words, c.env) for c in commands] == [
        (4, ("i2i", "x", "--y", "a b", "--z", "2"), {"A": "1"}),
        (6, ("pip", "install", "-e", "."), {}),
        (6, ("i2i", "p"), {}),
        (7, ("python", "-c", "one\ntwo", "D"), {}),
        (9, ("...",), {}),
        (15, ("i2i", "q"), {}),
    ]
    torchrun = DocCommand("p.md", 1, ("torchrun", "--nproc_per_node", "8", "-m", "i2i_cli", "x"))
    assert torchrun.args == ("x",)


UNCHECKED_COMMAND = re.compile(r"^(?: {4,}|\t)((?:\$ )?(?:i2i|torchrun) .*)$", re.MULTILINE)
"""An ``i2i`` command in an indented code block, where this test would not see it."""


def unchecked_commands(text: str) -> list[str]:
    """The ``i2i`` commands of ``text`` outside its shell blocks: in an indented code block or
    in a fenced block of no shell language."""
    outside = SHELL_FENCE.sub("", text)
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", outside, re.MULTILINE | re.DOTALL)
    plain = re.sub(r"^```[^\n]*\n.*?^```", "", outside, flags=re.MULTILINE | re.DOTALL)
    shown = [line.strip() for line in UNCHECKED_COMMAND.findall(plain)]
    for body in fenced:
        shown += [line for line in body.splitlines() if re.match(r"(\$ )?i2i ", line)]
    return shown


def test_every_command_shown_is_in_a_shell_block() -> None:
    page = "text\n\n    i2i translate x\n```bash\n    i2i y\n```\n"
    assert unchecked_commands(page) == ["i2i translate x"]
    assert unchecked_commands("```\ni2i z\n```\n") == ["i2i z"]
    for page in docs_pages():
        shown = unchecked_commands(page.read_text(encoding="utf-8"))
        assert not shown, f"{page.relative_to(ROOT)}: fence these as ```bash: {shown}"
