"""The commands of the README's and the docs pages' fenced shell blocks, read as a shell would.

``\\`` continues a line, ``#`` starts a comment, a line that ends inside a quote goes on to the
next, and ``&&``, ``||``, ``;`` and ``|`` separate commands; in a block with ``$ `` prompts, only
the prompted lines are commands. A bare ``...`` ("the flags above") is dropped.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SHELL_FENCE = re.compile(
    r"^```(?:bash|sh|console|shell)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL
)
"""A fenced shell block; group 1 is its body."""

SEPARATORS = frozenset({"&&", "||", ";", "|"})
"""Words between two commands of one line."""

PROMPT = "$ "
"""The prompt before a command in a block that shows what the commands print."""

ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
"""``NAME=value`` before a command: an environment variable for it."""

PLACEHOLDER = "..."
"""A bare ``...`` stands for the flags of the command above it (``--task cat2dog ... --resume``)."""


@dataclass(frozen=True)
class DocCommand:
    """One command of a docs page: where it is and what it runs."""

    page: str
    """The page's path relative to the repository root."""
    line: int
    """The line the command starts on (1-based)."""
    words: tuple[str, ...]
    """Its words, without the environment assignments before them."""
    env: dict[str, str] = field(default_factory=dict)
    """The ``NAME=value`` assignments before it."""

    @property
    def where(self) -> str:
        """``page:line``, for a test id and a failure message."""
        return f"{self.page}:{self.line}"

    @property
    def text(self) -> str:
        """The command as one shell line."""
        return shlex.join(self.words)

    @property
    def args(self) -> tuple[str, ...] | None:
        """The ``i2i`` arguments of the command (placeholders dropped), None when not ``i2i``."""
        words = self.words
        if words[0] == "i2i":
            args = words[1:]
        elif words[0] in ("torchrun", "python") and ("-m", "i2i_cli") in itertools.pairwise(words):
            args = words[words.index("i2i_cli") + 1 :]
        else:
            return None
        return tuple(word for word in args if word != PLACEHOLDER)

    @property
    def args_text(self) -> str:
        """The ``i2i`` arguments as one shell line (the key of ``CANNOT_RUN``)."""
        return shlex.join(self.args or ())


def docs_pages() -> list[Path]:
    """The README and every Markdown page under ``docs/``."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def shell_blocks(text: str) -> Iterator[tuple[int, str]]:
    """(line number of the first line, body) of each fenced shell block in ``text``."""
    for match in SHELL_FENCE.finditer(text):
        yield text.count("\n", 0, match.start(1)) + 1, match.group(1)


def split_words(line: str) -> list[str]:
    """The shell words of ``line``, each separator a word of its own, the comment dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _quote_open(line: str) -> bool:
    """Whether ``line`` ends inside a quoted string (the command goes on on the next line)."""
    try:
        split_words(line)
    except ValueError:
        return True
    return False


def command_lines(body: str, first: int) -> Iterator[tuple[int, str]]:
    """(line number, line) of each command line of a block: continuations and open quotes
    joined; in a block with ``$ `` prompts, only the prompted lines."""
    lines = body.splitlines()
    prompted = any(line.startswith(PROMPT) for line in lines)
    pending, start = "", first
    for offset, line in enumerate(lines):
        if not pending:
            start = first + offset
            if prompted and not line.startswith(PROMPT):
                continue
            line = line.removeprefix(PROMPT) if prompted else line
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1]
        elif not _quote_open(pending):
            yield start, pending
            pending = ""
    if pending:
        yield start, pending


def text_commands(text: str, page: str) -> list[DocCommand]:
    """Every command of every shell block of the Markdown ``text`` of ``page``."""
    commands = []
    for first, body in shell_blocks(text):
        for number, line in command_lines(body, first):
            words: list[str] = []
            for word in [*split_words(line), ";"]:
                if word not in SEPARATORS:
                    words.append(word)
                    continue
                env = {}
                while words and ASSIGNMENT.match(words[0]):
                    key, _, value = words.pop(0).partition("=")
                    env[key] = value
                if words:
                    commands.append(DocCommand(page, number, tuple(words), env))
                words = []
    return commands


def docs_commands() -> list[DocCommand]:
    """Every command of the README's and the docs pages' shell blocks, in page order."""
    return [
        command
        for page in docs_pages()
        for command in text_commands(
            page.read_text(encoding="utf-8"), page.relative_to(ROOT).as_posix()
        )
    ]
