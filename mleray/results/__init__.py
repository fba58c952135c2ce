"""The result store: one Arrow schema, a crash-safe writer, and `load()`.

- `layout`: which folder holds which file, and how a file names its attempt;
- `schema`: the Arrow schemas, by column group, and `grade_columns`;
- `rows`: trial and snapshot rows built from an outcome and its grades;
- `writer`: atomic files, the folder lock (`exclusive`), `ResultWriter`;
- `reader`: `load`, `load_attempts` (and `read_attempts_table`, its Arrow form),
  `load_snapshots`, and what a rerun needs to know (`scan_final_trials`).

Everything a caller needs is importable from `mleray.results` itself.
"""

from mleray.results.layout import (
    ARTIFACTS,
    ATTEMPTS,
    LOCK_FILE,
    SNAPSHOTS,
    SPEC_FILE,
    SUBMISSIONS,
    TRIALS,
)
from mleray.results.reader import (
    FinalTrials,
    attempts_so_far,
    existing_results_folder,
    final_trial_ids,
    load,
    load_attempts,
    load_snapshots,
    read_attempts_table,
    read_trial_file,
    scan_final_trials,
)
from mleray.results.rows import build_snapshot_row, build_trial_row
from mleray.results.schema import (
    GRADE,
    IDENTITY,
    OUTCOME,
    PLACEMENT,
    SNAPSHOT_SCHEMA,
    TRIAL_SCHEMA,
    VERSIONS,
    grade_columns,
)
from mleray.results.writer import ResultWriter, exclusive, write_atomic

__all__ = [
    "ARTIFACTS",
    "ATTEMPTS",
    "GRADE",
    "IDENTITY",
    "LOCK_FILE",
    "OUTCOME",
    "PLACEMENT",
    "SNAPSHOTS",
    "SNAPSHOT_SCHEMA",
    "SPEC_FILE",
    "SUBMISSIONS",
    "TRIALS",
    "TRIAL_SCHEMA",
    "VERSIONS",
    "FinalTrials",
    "ResultWriter",
    "attempts_so_far",
    "build_snapshot_row",
    "build_trial_row",
    "exclusive",
    "existing_results_folder",
    "final_trial_ids",
    "grade_columns",
    "load",
    "load_attempts",
    "load_snapshots",
    "read_attempts_table",
    "read_trial_file",
    "scan_final_trials",
    "write_atomic",
]
