"""baseline: a random forest on the public train.csv, seeded by MLERAY_SEED.

It reads the task from the files alone: the sample submission's first column is the id,
its other columns are what to predict. Those columns are train.csv's targets when train
has them; otherwise they are class names and the target is train's one column missing
from test.csv (probability output). Numeric targets with few integer values, or text
targets, are classification; then the output is probabilities when the sample's values
are fractional or the description asks for probabilities, else labels.

Works with Debian bookworm's scikit-learn 1.2 / pandas 1.5 and with current releases.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer

DATA = os.environ["MLERAY_DATA"]
SUBMISSION = os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv")
LOG = open(os.path.join(os.environ["MLERAY_LOGS_DIR"], "baseline.log"), "a")
SEED = int(os.environ.get("MLERAY_SEED", "0"))
KWARGS = json.loads(os.environ.get("MLERAY_AGENT_KWARGS") or "{}")
MAX_CATEGORIES = 30


def log(message):
    line = f"[{time.strftime('%H:%M:%S')}] {message}"
    print(line, flush=True)
    LOG.write(line + "\n")
    LOG.flush()


def read_inputs():
    sample_path = sorted(glob.glob(os.path.join(DATA, "sample_submission*.csv")))[0]
    sample = pd.read_csv(sample_path)
    train = pd.read_csv(os.path.join(DATA, "train.csv"))
    test = pd.read_csv(os.path.join(DATA, "test.csv"))
    description_path = os.path.join(DATA, "description.md")
    description = open(description_path).read().lower() if os.path.exists(description_path) else ""
    return sample, train, test, description


def features(train, test, id_column, targets):
    """Numeric columns as they are, low-cardinality text columns one-hot; the rest dropped."""
    columns = [
        c for c in test.columns if c != id_column and c in train.columns and c not in targets
    ]
    both = pd.concat([train[columns], test[columns]], axis=0, ignore_index=True)
    numeric = both.select_dtypes(include=[np.number]).astype(float)
    text = [c for c in columns if c not in numeric.columns and both[c].nunique() <= MAX_CATEGORIES]
    encoded = (
        pd.get_dummies(both[text].astype(str), dtype=float)
        if text
        else pd.DataFrame(index=both.index)
    )
    matrix = pd.concat([numeric, encoded], axis=1).to_numpy(dtype=float)
    if matrix.shape[1] == 0:
        matrix = np.zeros((len(both), 1))
    matrix = (
        SimpleImputer(strategy="median").fit_transform(matrix) if np.isnan(matrix).any() else matrix
    )
    return matrix[: len(train)], matrix[len(train) :]


def is_classification(y):
    if not pd.api.types.is_numeric_dtype(y):
        return True
    values = y.dropna().to_numpy(dtype=float)
    return bool(np.all(values == np.round(values))) and len(np.unique(values)) <= 20


def wants_probabilities(sample_values, description):
    values = pd.to_numeric(sample_values, errors="coerce")
    fractional = values.notna().all() and bool(
        np.any(values.to_numpy() != np.round(values.to_numpy()))
    )
    return fractional or "probabilit" in description


def forest(classifier):
    model = RandomForestClassifier if classifier else RandomForestRegressor
    return model(
        n_estimators=int(KWARGS.get("n_estimators", 100)),
        random_state=SEED,
        n_jobs=-1,
        min_samples_leaf=1 if classifier else 2,
    )


def predict_columns(sample, train, test, description):
    id_column, outputs = sample.columns[0], list(sample.columns[1:])
    if all(c in train.columns for c in outputs):
        x_train, x_test = features(train, test, id_column, outputs)
        return {c: predict_one(train[c], x_train, x_test, sample[c], description) for c in outputs}
    target = [c for c in train.columns if c not in test.columns and c != id_column]
    if len(target) != 1:
        raise SystemExit(f"baseline: cannot tell the target column (train-only columns: {target})")
    x_train, x_test = features(train, test, id_column, target)
    log(f"target {target[0]!r} -> class probability columns {outputs}")
    model = forest(True).fit(x_train, train[target[0]].astype(str))
    proba = model.predict_proba(x_test)
    classes = [str(c) for c in model.classes_]
    result = {}
    for column in outputs:
        match = [i for i, cls in enumerate(classes) if column == cls or column.endswith(f"_{cls}")]
        result[column] = proba[:, match[0]] if match else np.zeros(len(test))
    return result


def predict_one(y, x_train, x_test, sample_values, description):
    keep = y.notna().to_numpy()
    x_train, y = x_train[keep], y[keep]
    if not is_classification(y):
        log(f"{y.name}: regression on {x_train.shape[1]} features")
        return forest(False).fit(x_train, y.to_numpy(dtype=float)).predict(x_test)
    model = forest(True).fit(x_train, y)
    if wants_probabilities(sample_values, description) and len(model.classes_) == 2:
        log(f"{y.name}: binary classification, probability of {model.classes_[1]!r}")
        return model.predict_proba(x_test)[:, 1]
    log(f"{y.name}: classification into {len(model.classes_)} labels")
    return model.predict(x_test)


def main():
    started = time.time()
    shutil.copy(
        os.path.abspath(__file__), os.path.join(os.environ["MLERAY_CODE_DIR"], "baseline.py")
    )
    sample, train, test, description = read_inputs()
    log(
        f"seed {SEED}; train {train.shape}, test {test.shape}, "
        f"sample columns {list(sample.columns)}"
    )
    predictions = predict_columns(sample, train, test, description)
    id_column = sample.columns[0]
    submission = pd.DataFrame({id_column: test[id_column].to_numpy()})
    for column, values in predictions.items():
        submission[column] = values
    submission.to_csv(SUBMISSION, index=False)
    log(f"wrote {SUBMISSION} ({len(submission)} rows) in {time.time() - started:.1f}s")
    check = subprocess.run(["validate-submission"], capture_output=True, text=True)
    log(f"validate-submission: exit {check.returncode}: {(check.stdout + check.stderr).strip()}")
    return 0 if check.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
