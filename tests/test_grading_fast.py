"""The fast scoring path (pyarrow) gives exactly the strict path's report, whatever the file:
it answers for well-formed numeric submissions and leaves everything else to the strict
path, which accepts or refuses it as it always did."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from mleray.grading import fast_csv, grade_submission
from tests.helpers.competitions import make_competition

IDS = [f"r{i}" for i in range(40)]
NUMERIC_IDS = [str(1000 + i) for i in range(40)]


def competitions(tmp_path):
    rng = np.random.default_rng(3)
    binary = pd.DataFrame({"id": IDS, "target": [0, 1] * 20})
    real = pd.DataFrame({"id": NUMERIC_IDS, "target": rng.normal(5, 2, 40).round(3)})
    positive = pd.DataFrame({"id": IDS, "target": rng.uniform(1, 9, 40).round(3)})
    multi = pd.DataFrame({"id": IDS, "a": [1, 0] * 20, "b": [0, 1] * 20})
    return {
        "auc": make_competition(tmp_path / "auc", binary, metric="roc_auc"),
        "logloss": make_competition(tmp_path / "ll", binary, metric="log_loss"),
        "rmse": make_competition(tmp_path / "rmse", real, metric="rmse"),
        "rmsle": make_competition(tmp_path / "rmsle", positive, metric="rmsle"),
        "multi": make_competition(tmp_path / "multi", multi, metric="log_loss"),
        "accuracy": make_competition(tmp_path / "acc", binary, metric="accuracy"),
    }


def good_rows(name: str, rng: random.Random) -> tuple[list[str], list[list[str]]]:
    ids = NUMERIC_IDS if name == "rmse" else IDS
    if name == "multi":
        header = ["id", "a", "b"]
        rows = []
        for i in ids:
            p = rng.uniform(0.01, 0.99)
            rows.append([i, f"{p:.6f}", f"{1 - p:.6f}"])
        return header, rows
    low, high = (0.0, 1.0) if name in ("auc", "logloss", "accuracy") else (0.5, 12.0)
    if name == "accuracy":
        return ["id", "target"], [[i, str(rng.randint(0, 1))] for i in ids]
    return ["id", "target"], [[i, repr(rng.uniform(low, high))] for i in ids]


def mutations(rng: random.Random):
    """Edits of a good file, harmless or not: (name, function(header, rows) -> text)."""

    def text(header, rows, newline="\n"):
        return newline.join([",".join(header)] + [",".join(r) for r in rows]) + newline

    def at(rows, fn):
        rows = [list(r) for r in rows]
        k = rng.randrange(len(rows))
        rows[k] = fn(rows[k])
        return rows

    return [
        ("as is", lambda h, r: text(h, r)),
        ("shuffled", lambda h, r: text(h, rng.sample(r, len(r)))),
        ("crlf", lambda h, r: text(h, r, "\r\n")),
        ("bom", lambda h, r: "\ufeff" + text(h, r)),
        ("columns swapped", lambda h, r: text(h[::-1], [row[::-1] for row in r])),
        ("quoted values", lambda h, r: text(h, [[f'"{v}"' for v in row] for row in r])),
        ("exponents", lambda h, r: text(h, at(r, lambda row: [row[0], "5e-01"] + row[2:]))),
        ("plus exponent", lambda h, r: text(h, at(r, lambda row: [row[0], "5e+00"] + row[2:]))),
        ("leading plus", lambda h, r: text(h, at(r, lambda row: [row[0], "+0.5"] + row[2:]))),
        ("space in value", lambda h, r: text(h, at(r, lambda row: [row[0], " 0.5"] + row[2:]))),
        ("space in id", lambda h, r: text(h, at(r, lambda row: [f" {row[0]} "] + row[1:]))),
        ("id as 7.0", lambda h, r: text(h, at(r, lambda row: [f"{row[0]}.0"] + row[1:]))),
        ("nan", lambda h, r: text(h, at(r, lambda row: [row[0], "nan"] + row[2:]))),
        ("inf", lambda h, r: text(h, at(r, lambda row: [row[0], "inf"] + row[2:]))),
        ("empty cell", lambda h, r: text(h, at(r, lambda row: [row[0], ""] + row[2:]))),
        ("text value", lambda h, r: text(h, at(r, lambda row: [row[0], "abc"] + row[2:]))),
        ("above one", lambda h, r: text(h, at(r, lambda row: [row[0], "1.5"] + row[2:]))),
        ("negative", lambda h, r: text(h, at(r, lambda row: [row[0], "-3"] + row[2:]))),
        ("duplicate id", lambda h, r: text(h, r[:-1] + [r[0]])),
        ("missing row", lambda h, r: text(h, r[:-1])),
        ("extra row", lambda h, r: text(h, r + [["zzz"] + r[0][1:]])),
        ("unknown id", lambda h, r: text(h, at(r, lambda row: ["nope"] + row[1:]))),
        ("extra column", lambda h, r: text(h + ["x"], [row + ["1"] for row in r])),
        ("repeated column", lambda h, r: text(h + [h[1]], [row + [row[1]] for row in r])),
        ("ragged row", lambda h, r: text(h, at(r, lambda row: row + ["9"]))),
        ("short row", lambda h, r: text(h, at(r, lambda row: row[:1]))),
        ("blank line", lambda h, r: text(h, r[:3] + [[""]] + r[3:])),
        ("header spaces", lambda h, r: text([f" {c}" for c in h], r)),
        ("semicolons", lambda h, r: text(h, r).replace(",", ";")),
        ("quoted newline", lambda h, r: text(h, at(r, lambda row: [f'"{row[0]}\n"'] + row[1:]))),
    ]


def strict_report(monkeypatch, competition, path):
    with monkeypatch.context() as patched:
        patched.setattr(fast_csv, "fast_predictions", lambda *a, **k: None)
        patched.setattr("mleray.grading.grade.fast_predictions", lambda *a, **k: None)
        return grade_submission(competition, path)


def same(a, b) -> bool:
    fields = ("score", "valid_submission", "submission_exists", "error", "any_medal")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


@pytest.mark.parametrize("seed", range(3))
def test_fast_and_strict_paths_agree_on_every_edit(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    taken = []
    real_fast = fast_csv.fast_predictions

    def counting(*args, **kwargs):
        result = real_fast(*args, **kwargs)
        taken.append(result is not None)
        return result

    monkeypatch.setattr("mleray.grading.grade.fast_predictions", counting)
    for name, competition in competitions(tmp_path / f"s{seed}").items():
        for case, mutate in mutations(rng):
            header, rows = good_rows(name, rng)
            path = tmp_path / f"{name}-{case.replace(' ', '_')}.csv"
            path.write_bytes(mutate(header, rows).encode())
            fast = grade_submission(competition, path)
            strict = strict_report(monkeypatch, competition, path)
            assert same(fast, strict), (name, case, fast, strict)
    assert any(taken) and not all(taken)  # both paths were exercised


def test_the_fast_path_answers_for_well_formed_files_only(tmp_path):
    competition = competitions(tmp_path)["auc"]
    path = tmp_path / "good.csv"
    rng = random.Random(0)
    header, rows = good_rows("auc", rng)
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    from mleray.grading.grade import load_metric_answers
    from mleray.grading.metrics import get_metric

    metric = get_metric("roc_auc")
    answers = load_metric_answers(competition, metric)
    ids = answers.fast_ids
    data = path.read_bytes()
    values = fast_csv.fast_predictions(data, metric, "id", ("target",), ids)
    assert values is not None and values.shape == (40,)
    assert (
        fast_csv.fast_predictions(data.replace(b"0.", b"+0.", 1), metric, "id", ("target",), ids)
        is None
    )
    assert fast_csv.fast_predictions(data, metric, "id", ("other",), ids) is None
    accuracy = get_metric("accuracy")
    assert fast_csv.fast_predictions(data, accuracy, "id", ("target",), ids) is None
