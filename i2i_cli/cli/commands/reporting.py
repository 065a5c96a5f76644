"""How a plugin command's failures reach the user: one ``error:`` line and an exit code."""

from __future__ import annotations

from collections.abc import Callable

import typer


def report_errors(body: Callable[[], None], resume_hint: str = "rerun to resume") -> None:
    """Run ``body``; a user-facing error becomes one line on stderr and its exit code."""
    from i2i_cli.base.errors import INTERRUPTED_EXIT, RUN_EXIT, I2IError

    try:
        body()
    except I2IError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted: outputs already written are kept; {resume_hint}", err=True)
        raise typer.Exit(INTERRUPTED_EXIT) from None
    except (MemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        typer.echo(
            "error: out of memory; lower --batch-size (outputs already written are kept; "
            f"{resume_hint})",
            err=True,
        )
        raise typer.Exit(RUN_EXIT) from None


OUT_OF_MEMORY_TEXTS = ("out of memory", "can't allocate memory", "not enough memory")
"""What torch's allocators say when an allocation fails (CUDA, CPU, MPS)."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a failed allocation (torch.OutOfMemoryError, MemoryError, ...)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return any(fragment in text for fragment in OUT_OF_MEMORY_TEXTS)
