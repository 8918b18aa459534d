"""``python -m train`` / ``rtdepth train``: options generated from ``TrainConfig``'s fields (name, type, default
and help live there, once), plus what is not a config value (--config, --size, --resume, --overwrite)."""

from __future__ import annotations

import inspect
import json
import types
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Optional, Union, get_args, get_origin, get_type_hints

import typer

from rtdepth.errors import run_app
from rtdepth.sizes import parse_size
from train.config import TrainConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train rtdepth models.")

EXTRA = {  # options that are not config values
    "config": (Optional[Path], typer.Option(None, "--config", "-c", help="YAML config; flags override it.")),
    "size": (Optional[str], typer.Option(None, "--size", help="Training size WxH (default 320x240).")),
    "resume": (bool, typer.Option(False, "--resume", help="Continue the run in --out from its saved state.")),
    "overwrite": (bool, typer.Option(False, "--overwrite", help="Replace an earlier run in --out (default: refused).")),
}


METAVARS = {str: "TEXT", int: "INTEGER", float: "NUMBER"}  # lists (datasets) show as DATA


def _default_text(f) -> str:
    value = f.default if f.default is not MISSING else None
    said = "default" in f.metadata["help"]
    return "" if said or value in (None, "", [], {}) or isinstance(value, bool) else f" (default {value})"


def _base(hint: Any) -> Any:
    """``int | None`` -> ``int``: the type the option parses."""
    if get_origin(hint) in (Union, types.UnionType):
        return next(a for a in get_args(hint) if a is not type(None))
    return hint


def config_options() -> list[inspect.Parameter]:
    """One command-line option per config field (``cli=False`` ones aside): ``batch_size`` -> ``--batch-size``;
    booleans as ``--x/--no-x``; lists repeatable. Every default is None: only what the user typed overrides
    the YAML config and the field defaults."""
    hints = get_type_hints(TrainConfig)
    params = []
    for f in fields(TrainConfig):
        if not f.metadata.get("cli", True):
            continue
        flag, base = "--" + f.name.replace("_", "-"), _base(hints[f.name])
        names = (f"{flag}/--no-{flag[2:]}",) if base is bool else (flag, *f.metadata.get("flags", ()))
        annotation = list[str] if get_origin(base) is list else Optional[base]
        metavar = None if base is bool else METAVARS.get(base, "DATA")
        default = typer.Option(None, *names, metavar=metavar, help=f.metadata["help"] + _default_text(f))
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    for name, (annotation, default) in EXTRA.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    return params


def train(**options: Any) -> None:
    """Train a depth model; best/last weights land in the run folder."""
    from train.trainer import fit

    extra = {name: options.pop(name) for name in EXTRA}
    if extra["size"]:
        options["width"], options["height"] = parse_size(extra["size"], "--size")
    cfg = TrainConfig.resolve(options, extra["config"], extra["resume"])
    summary = fit(cfg, resume=extra["resume"], overwrite=extra["overwrite"])
    typer.echo(json.dumps(summary))


_OPTIONS = config_options()
train.__signature__ = inspect.Signature(_OPTIONS)
train.__annotations__ = {p.name: p.annotation for p in _OPTIONS}
app.command()(train)


def main() -> None:
    """Entry point that turns user errors into one line and an exit code."""
    run_app(app)
