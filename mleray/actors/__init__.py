"""Ray joined to the sandbox: `TrialActor` (one per trial attempt), its options, the
remote grading task and the container reaper. `TrialOutcome` and `Placement` live in
`outcome.py`, which does not import Ray, so the result store can use them."""

from mleray.actors.outcome import Placement, TrialOutcome

__all__ = ["Placement", "TrialOutcome"]
