"""``benchmarks/sweep.py``: one-restart probes and what restarts would keep from them."""

import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from benchmarks import datasets as D
from benchmarks import methods as M
from benchmarks.sweep import (
    fit_input_inertia,
    keep,
    load_labellings,
    main,
    probe,
    restarts_accuracy,
    restarts_table,
)


def _blobs():
    X, y = make_blobs(n_samples=60, centers=3, random_state=0)
    index = np.arange(60)
    return D.Dataset("blobs", X.astype(np.float32), y, index, index[:0], 3, kind="tabular")


def test_score_keeps_the_highest_and_medoid_the_most_agreeing_labelling():
    a = np.array([0, 0, 1, 1, 2, 2])
    b = a.copy()
    c = np.array([0, 1, 2, 0, 1, 2])  # agrees with neither, but scores highest
    assert keep([a, b, c], [0.1, 0.2, 0.9], "score") == 2
    assert keep([a, b, c], [0.1, 0.2, 0.9], "medoid") == 1  # a and b tie on agreement: b scores higher
    with pytest.raises(ValueError, match="criterion"):
        keep([a], [0.0], "inertia")


def test_restarts_accuracy_averages_the_kept_fit_over_every_group():
    labellings = [np.zeros(4, int)] * 3
    accuracies, scores = [0.5, 0.9, 0.7], [1.0, 2.0, 0.0]
    assert restarts_accuracy(accuracies, labellings, scores, 1) == pytest.approx(0.7)  # the mean
    # groups {0,1} -> 0.9, {0,2} -> 0.5, {1,2} -> 0.9
    assert restarts_accuracy(accuracies, labellings, scores, 2) == pytest.approx((0.9 + 0.5 + 0.9) / 3)
    assert restarts_accuracy(accuracies, labellings, scores, 3) == 0.9
    with pytest.raises(ValueError, match="n_init"):
        restarts_accuracy(accuracies, labellings, scores, 4)


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # one epoch may leave a cluster empty
def test_probe_fits_one_restart_with_the_overrides_and_saves_its_labels(tmp_path):
    ds = _blobs()
    record = probe(ds, "drc", 0, {"batch_size": 32, "head_refit": "kmeans"}, max_epochs=1, device="cpu",
                   labels_dir=tmp_path)
    assert record["overrides"] == "set batch_size=32 head_refit='kmeans'"
    assert record["epochs"] == 1 and record["head_refit_target"] == "kmeans"
    assert 0 <= record["acc"] <= 1 and 0 <= record["score"] <= np.log(3) + 1e-4
    probe(ds, "drc", 1, {"batch_size": 32}, max_epochs=1, device="cpu", labels_dir=tmp_path)
    groups = load_labellings(tmp_path)
    assert list(groups) == [("blobs", "drc")] and [f["seed"] for f in groups[("blobs", "drc")]] == [0, 1]
    rows = restarts_table(groups, [1, 2, 3])
    assert set(rows[0]) == {"dataset", "method", "seeds", "score@1", "medoid@1", "score@2", "medoid@2"}


def test_the_command_line_refuses_restarts_in_a_probe_and_prints_the_restarts_table(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["probe", "--name", "x", "--dataset", "iris", "--method", "drc", "--set", "n_init=3"])
    assert "one restart" in capsys.readouterr().err
    y = np.array([0, 0, 1, 1])
    # Seeds 0 and 2 find the classes (their cluster numbers swapped), seed 1 scores highest but is wrong.
    for seed, (labels, score) in enumerate([(y, 0.2), (np.array([0, 1, 0, 1]), 0.8), (1 - y, 0.5)]):
        np.savez(tmp_path / f"toy_jcl_{seed}.npz", labels=labels, score=score, y=y)
    assert main(["restarts", str(tmp_path), "--n-init", "1", "3"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["seeds"] == [0, 1, 2] and row["score@1"] == round(2.5 / 3, 4)
    assert row["score@3"] == 0.5 and row["medoid@3"] == 1.0


@pytest.mark.filterwarnings("ignore::deepclust.ClusterCollapseWarning")  # one epoch may leave a cluster empty
def test_input_inertia_keeps_the_lowest_and_matches_what_the_estimator_measures(tmp_path):
    a, b = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    assert keep([a, b], [0.9, 0.1], "input_inertia", inertias=[5.0, 2.0]) == 1
    ds = _blobs()
    model = M.deep_estimator("drc", ds, 3, 1, "cpu", n_init=1, batch_size=32,
                             restart_criterion="input_inertia").fit(ds.X)
    assert fit_input_inertia(ds.X, model.labels_, 3) == pytest.approx(-model.restart_scores_[0], rel=1e-5)
    probe(ds, "drc", 0, {"batch_size": 32}, max_epochs=1, device="cpu", labels_dir=tmp_path)
    probe(ds, "drc", 1, {"batch_size": 32}, max_epochs=1, device="cpu", labels_dir=tmp_path)
    rows = restarts_table(load_labellings(tmp_path), [1, 2], inputs={"blobs": ds.X})
    assert {"input_inertia@1", "input_inertia@2"} <= set(rows[0])
    assert rows[0]["input_inertia@1"] == rows[0]["score@1"]  # one fit: nothing to choose
