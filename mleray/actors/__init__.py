"""Ray joined to the sandbox: `TrialActor` (one per trial attempt), its options, the
remote grading task and the container reaper. `TrialOutcome` lives in `outcome.py`,
which does not import Ray, so the result store can use it."""

from mleray.actors.outcome import TrialOutcome

__all__ = ["TrialOutcome"]
