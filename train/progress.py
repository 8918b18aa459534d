"""Rich progress for training: a bar per epoch with loss, samples/s and ETA; a line per validation."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class TrainProgress:
    """Progress display that is silent on non-zero ranks."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[rate]:.1f} samples/s"),
            TimeRemainingColumn(), console=self.console, disable=not enabled,
        )  # fmt: skip
        self._losses: dict[TaskID, list[float]] = {}
        self._t0: dict[TaskID, tuple[float, int]] = {}

    def __enter__(self) -> TrainProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, steps: int, done: int = 0) -> TaskID:
        task = self._bar.add_task(f"epoch {epoch + 1}/{epochs}", total=steps + done, completed=done, loss=0.0, rate=0.0)
        self._losses[task] = []
        self._t0[task] = (time.perf_counter(), 0)
        return task

    def advance(self, task: TaskID, loss: float, samples: int) -> None:
        self._losses[task].append(loss)
        t0, seen = self._t0[task]
        seen += samples
        self._t0[task] = (t0, seen)
        recent = self._losses[task][-20:]
        rate = seen / max(time.perf_counter() - t0, 1e-9)
        self._bar.update(task, advance=1, loss=sum(recent) / len(recent), rate=rate)
        steps = len(self._losses[task])
        if self.enabled and not self.console.is_terminal and steps % 10 == 0:  # logs get a line now and then
            t = self._bar.tasks[task]
            self.console.print(f"{t.description} step {t.completed}/{t.total} loss {sum(recent) / len(recent):.4f} "
                               f"{rate:.1f} samples/s")  # fmt: skip

    def mean_loss(self, task: TaskID) -> float:
        losses = self._losses.get(task) or [float("nan")]
        return sum(losses) / len(losses)

    def report(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        keys = ("loss", "delta1", "abs_rel", "rmse", "delta1_ms", "abs_rel_ms")
        text = "  ".join(f"{k} {record[k]:.4f}" for k in keys if k in record)
        self._bar.console.print(f"[green]epoch {record['epoch']}[/]  {text}")
