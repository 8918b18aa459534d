"""The one exception type the CLI turns into a single clear line, and the entry point that does it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence


class RtdepthError(Exception):
    """A problem the user can fix (bad file, missing device, wrong option); never a bug."""

    exit_code = 2

    def __init__(self, message: str = "", exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so the same clean-up runs (outputs finalised, training state saved)."""


SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's 128 + signal number
_received: list[int] = []  # signals seen by this process, first first: the exit code follows the first


def note_signal(signum: int) -> None:
    """Remember a signal, so the exit code says which one stopped the run whatever a library made of it
    (some catch KeyboardInterrupt and raise their own)."""
    _received.append(signum)


def _raise_terminated(signum: int, frame: object) -> None:
    note_signal(signum)
    raise Terminated


def run_app(app, args: Sequence[str] | None = None, prog_name: str | None = None) -> None:
    """Run a typer app as a console entry point; always ends the process with an honest exit code.

    User errors become one line on stderr. Ctrl-C (130) and SIGTERM (143) end with one line too; commands
    that own outputs catch them first, finalise, and raise an ``RtdepthError`` that says what was kept.
    typer's standalone mode would turn an interrupt into a silent exit, so the app runs non-standalone.
    """
    from typer import Abort, Exit

    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # typer before it vendored click
        from click.exceptions import ClickException

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = app(args=args, prog_name=prog_name, standalone_mode=False)
    except RtdepthError as exc:
        _error_line(str(exc))
        sys.exit(exc.exit_code)
    except ClickException as exc:  # usage errors: typer's own message, exit 2
        _show_usage_error(exc)
        sys.exit(exc.exit_code)
    except Exit as exc:
        code = exc.exit_code
    except (Abort, KeyboardInterrupt) as exc:
        terminated = _chain_has_terminated(exc) or (bool(_received) and _received[0] == signal.SIGTERM)
        code = SIGNAL_EXIT[signal.SIGTERM if terminated else signal.SIGINT]
    if code in SIGNAL_EXIT.values():  # an interrupt that no command reported (typer may turn it into 130)
        if _received and _received[0] == signal.SIGTERM:
            code = SIGNAL_EXIT[signal.SIGTERM]
        print("interrupted" + (" (SIGTERM)" if code == SIGNAL_EXIT[signal.SIGTERM] else ""), file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


def console(stderr: bool = False):
    """A rich console that never wraps a line it prints (paths stay whole when output is piped or logged)
    and, when it is not a terminal, lays tables out as wide as they need instead of 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    piped = not getattr(stream, "isatty", lambda: False)()
    return Console(stderr=stderr, soft_wrap=True, width=200 if piped and "COLUMNS" not in os.environ else None)


def _chain_has_terminated(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, Terminated):
            return True
        exc, seen = exc.__context__ or exc.__cause__, seen + 1
    return False


def _error_line(message: str) -> None:
    from rich.markup import escape

    console(stderr=True).print(f"[red]error:[/] {escape(message)}", highlight=False, emoji=False)


def _show_usage_error(exc) -> None:
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
    except Exception:  # noqa: BLE001 - plain text if typer's formatter is unavailable
        exc.show()
