"""The stub provider's default replies: what a model might answer an agent like llm-loop.

The first answer's script has a bug (it reads a file that does not exist), so an agent that
feeds errors back gets a second, working answer: a random forest on the public train split
that writes a submission in the sample's format, for any built-in competition. It runs with
Debian bookworm's numpy/pandas/scikit-learn and reads its paths from the environment
(MLERAY_DATA, MLERAY_SUBMISSION_DIR) like every agent.
"""

BROKEN = """Here is a first solution.

```python
import os
import pandas as pd

data = os.environ.get("MLERAY_DATA", "/home/data")
train = pd.read_csv(os.path.join(data, "training_data.csv"))
```
"""

WORKING = """The training file is `train.csv`. Here is a corrected solution.

```python
import glob
import os

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

data = os.environ.get("MLERAY_DATA", "/home/data")
out = os.path.join(os.environ.get("MLERAY_SUBMISSION_DIR", "/home/submission"), "submission.csv")
seed = int(os.environ.get("MLERAY_SEED", "0"))
sample = pd.read_csv(sorted(glob.glob(os.path.join(data, "sample_submission*.csv")))[0])
train = pd.read_csv(os.path.join(data, "train.csv"))
test = pd.read_csv(os.path.join(data, "test.csv"))
id_col, outputs = sample.columns[0], list(sample.columns[1:])
if all(c in train.columns for c in outputs):
    targets = outputs
else:
    targets = [c for c in train.columns if c not in test.columns]
features = [c for c in test.columns if c != id_col and c not in targets]
both = pd.get_dummies(pd.concat([train[features], test[features]]), dtype=float).fillna(0.0)
x_train, x_test = both.iloc[: len(train)].to_numpy(), both.iloc[len(train) :].to_numpy()
result = pd.DataFrame({id_col: test[id_col]})
for target in targets:
    y = train[target]
    whole = pd.api.types.is_numeric_dtype(y) and np.all(y.dropna() == np.round(y.dropna()))
    classify = not pd.api.types.is_numeric_dtype(y) or (whole and y.nunique() <= 20)
    model_class = RandomForestClassifier if classify else RandomForestRegressor
    model = model_class(n_estimators=100, random_state=seed, n_jobs=1).fit(x_train, y)
    fractional = not np.all(sample[outputs].to_numpy(dtype=float) % 1 == 0)
    if classify and len(outputs) > 1:
        proba = model.predict_proba(x_test)
        for i, label in enumerate(model.classes_):
            name = str(label) if str(label) in outputs else outputs[i]
            result[name] = proba[:, i]
    elif classify and fractional and len(model.classes_) == 2:
        result[target] = model.predict_proba(x_test)[:, 1]
    else:
        result[target] = model.predict(x_test)
result[[id_col] + outputs].to_csv(out + ".tmp", index=False)
os.replace(out + ".tmp", out)  # a snapshot never sees half a file
print("wrote", out, len(result), "rows")
```
"""

REPLIES = (BROKEN, WORKING)
