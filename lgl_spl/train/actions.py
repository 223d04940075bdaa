"""What the loop does after a step when it is due: the periodic actions (docs/design.md §2).

Each action is a small object with one interface, as CLU's periodic actions are:
``due(at)`` says whether it runs after the step ``at`` describes, ``__call__(at)`` runs
it. The loop reads the pending steps' metrics from the devices first when any is due, then
runs the due ones in the order it was given them: evaluate, round record, log line,
checkpoint.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class At(NamedTuple):
    """Where the loop is after a step."""

    step: int  # the updates done
    round_end: bool  # the step ended its round (or the run)
    finished: bool  # the step ended the run
    stopping: bool  # a SIGTERM was seen: checkpoint now, then stop


class Action(Protocol):
    def due(self, at: At) -> bool: ...

    def __call__(self, at: At) -> None: ...


class Every:
    """Due every ``every`` steps and at the run's end."""

    def __init__(self, every: int):
        self.every = every

    def due(self, at: At) -> bool:
        return at.step % self.every == 0 or at.finished


class Evaluate(Every):
    """An evaluation row (``metrics.jsonl``) and the auxiliary learners' snapshots."""

    def __init__(self, every: int, run):
        super().__init__(every)
        self.run = run  # (step) -> None

    def __call__(self, at: At) -> None:
        self.run(at.step)


class RecordRound:
    """The round's row (``rounds.jsonl``) when its last step is done."""

    def __init__(self, run):
        self.run = run

    def due(self, at: At) -> bool:
        return at.round_end

    def __call__(self, at: At) -> None:
        self.run(at.step)


class LogLine:
    """The training loss and learning rate to TensorBoard when the console's progress line
    is due; ``logged`` is what the progress line prints beside them."""

    def __init__(self, progress, run):
        self.progress, self.run = progress, run
        self.logged: tuple = (None, None)

    def due(self, at: At) -> bool:
        return self.progress.due(at.step)

    def __call__(self, at: At) -> None:
        self.logged = self.run(at.step)


class Checkpoint:
    """A checkpoint at every evaluation, every ``checkpoint_every`` steps, and on SIGTERM."""

    def __init__(self, evaluate: Evaluate, checkpoint_every: int, run):
        self.evaluate, self.every, self.run = evaluate, checkpoint_every, run

    def due(self, at: At) -> bool:
        return self.evaluate.due(at) or at.step % self.every == 0 or at.stopping

    def __call__(self, at: At) -> None:
        self.run(at.step)
