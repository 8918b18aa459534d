"""The one exception type the CLI turns into a single clear line and a non-zero exit."""


class RtdepthError(Exception):
    """A problem the user can fix (bad file, missing device, wrong option); never a bug."""

    exit_code = 2


def run_app(app) -> None:
    """Run a typer app as a console entry point: a user error becomes one line on stderr and its exit code."""
    import sys

    try:
        app()
    except RtdepthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
