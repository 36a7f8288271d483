"""Live training curves through Accelerate's experiment trackers (TensorBoard by default).

``cfg.log_with`` names the tracker: ``"tensorboard"``, or anything Accelerate supports
(``"wandb"``, ``"mlflow"``, ``"all"``...), passed through unchanged; None logs nothing. Trackers
that keep files write them into ``<run_dir>/logs``, so one command shows every run side by side::

    uv run tensorboard --logdir runs

What a run logs, against the optimizer step (update) it reached:

* every ``cfg.log_every_steps`` updates: ``train/loss`` (mean over those updates),
  ``train/learning_rate`` and ``train/grad_norm`` (mean norm before clipping);
* at step 0: ``provenance``, the run's ``cfg.provenance`` line as text, so a stand-in's curves
  say so;
* at step 0 and after each epoch: ``val/loss``; after each epoch ``train/epoch_loss``,
  ``train/samples_per_second`` and ``train/peak_memory_mb``;
* when a notebook evaluates the run (``helpers.eval.record``): its headline metrics as
  ``eval/<metric>``, one step after the run's last update.

A resumed run continues the same curves: TensorBoard's writer is opened with ``purge_step`` at the
first step the process logs (0 for a new run, the first update after the checkpoint for a resumed
one), which hides whatever an interrupted process had logged from there on, so no step appears
twice. Only the main process writes (Accelerate's trackers run on it alone).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

from accelerate.tracking import LOGGER_TYPE_TO_CLASS, GeneralTracker, filter_trackers

LOG_FOLDER = "logs"  # under run_dir: <run_dir>/logs/<run name> holds the event files
RUN_NAME = "curves"
# tracker name -> module it needs (Accelerate drops a missing one silently; we say so)
TRACKER_MODULES = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "comet_ml": "comet_ml",
    "aim": "aim",
    "clearml": "clearml",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
    "trackio": "trackio",
}


def start_trackers(log_with: str | None, run_dir: Path, first_step: int) -> list[GeneralTracker]:
    """Start the trackers ``log_with`` names for the run in ``run_dir``; an empty list for None.

    ``first_step`` is the first step this process will log: TensorBoard hides the events that
    earlier processes logged at or after it. Raises with the install command when the tracker's
    package is missing."""
    if not log_with:
        return []
    names = [name.strip() for name in log_with.split(",") if name.strip()]
    for name in names:
        module = TRACKER_MODULES.get(name)
        if module and importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(
                f"log_with={log_with!r} needs the {module!r} package, which is not installed. "
                f"Install it (`uv add {module}` or `pip install {module}`) or set log_with=None."
            )
    logging_dir = Path(run_dir) / LOG_FOLDER
    trackers = []
    for kind in filter_trackers(names, logging_dir):
        tracker_class = LOGGER_TYPE_TO_CLASS[str(kind)]
        if tracker_class.requires_logging_directory:
            options = {"purge_step": first_step} if str(kind) == "tensorboard" else {}
            tracker = tracker_class(RUN_NAME, logging_dir, **options)
        else:
            tracker = tracker_class(RUN_NAME)
        tracker.start()
        trackers.append(tracker)
    return trackers


class CurveLogger:
    """Logs a training run's curves to its trackers; averages the per-update values between two
    logged steps. Does nothing when there are no trackers."""

    def __init__(self, trackers: list[GeneralTracker], every: int) -> None:
        if every < 1:
            raise ValueError(f"log_every_steps={every}: it must be at least 1.")
        self.trackers, self.every = trackers, every
        self._losses: list[float] = []
        self._norms: list[float] = []

    def update(self, step: int, loss: float, learning_rate: float, grad_norm: float) -> None:
        """Record update number ``step`` (1-based over the whole run); log every ``every``."""
        if not self.trackers:
            return
        self._losses.append(loss)
        self._norms.append(grad_norm)
        if step % self.every == 0:
            self.log(
                {
                    "train/loss": sum(self._losses) / len(self._losses),
                    "train/learning_rate": learning_rate,
                    "train/grad_norm": sum(self._norms) / len(self._norms),
                },
                step,
            )
            self._losses.clear()
            self._norms.clear()

    def log(self, values: Mapping[str, float | str], step: int) -> None:
        """Log ``values`` (numbers, or text) at ``step`` to every tracker."""
        for tracker in self.trackers:
            tracker.log(dict(values), step=step)

    def finish(self) -> None:
        """Close the trackers (flushes TensorBoard's files)."""
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


def read_curves(run_dir: Path, purge: bool = True) -> dict[str, list[tuple[int, float | str]]]:
    """What TensorBoard shows for the run in ``run_dir``: each logged tag (scalars, and texts
    such as ``provenance``) as ``(step, value)`` pairs in order. ``purge=False`` keeps what a
    resumed run hides: the raw events an interrupted process wrote."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(Path(run_dir) / LOG_FOLDER / RUN_NAME), purge_orphaned_data=purge)
    events.Reload()
    tags = events.Tags()
    curves: dict[str, list[tuple[int, float | str]]] = {
        tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in tags["scalars"]
    }
    for tag in tags["tensors"]:  # add_text stores "<tag>/text_summary" string tensors
        curves[tag.removesuffix("/text_summary")] = [
            (event.step, event.tensor_proto.string_val[0].decode()) for event in events.Tensors(tag)
        ]
    return curves


def log_once(log_with: str | None, run_dir: Path, values: Mapping[str, float], step: int) -> None:
    """Log one set of ``values`` at ``step`` to the run's trackers (e.g. evaluation metrics)."""
    if not log_with:
        return
    logger = CurveLogger(start_trackers(log_with, run_dir, step), every=1)
    try:
        logger.log(values, step)
    finally:
        logger.finish()


__all__ = ["LOG_FOLDER", "RUN_NAME", "CurveLogger", "log_once", "read_curves", "start_trackers"]
