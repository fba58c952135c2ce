"""The sweep driver: plan, check, then run every pending trial on Ray and store the results.

- `connect`: starting or joining Ray, the workers' environment, and admission (how many
  attempts the cluster holds at once, following nodes as they join and leave).
- `preflight`: what would make every trial fail, checked once before Ray starts.
- `loop`: the scheduling loop over `ray.wait` (grading, retries by failure kind,
  cancellation); each tick it hands the live view (`progress`) a frozen `SweepStatus`.
- `run`: `run_sweep`, signal handling and reaping the sweep's containers.
"""

from mleray.driver.connect import admission_limit, connect, worker_env
from mleray.driver.loop import SweepLoop
from mleray.driver.preflight import Preflight, preflight
from mleray.driver.run import SweepSummary, run_sweep
from mleray.driver.status import RunningAttempt, SweepStatus

__all__ = [
    "Preflight",
    "RunningAttempt",
    "SweepLoop",
    "SweepStatus",
    "SweepSummary",
    "admission_limit",
    "connect",
    "preflight",
    "run_sweep",
    "worker_env",
]
