"""``benchmarks/methods.py``: how every benchmark script builds a deep estimator."""


def test_the_benchmark_estimator_takes_the_data_set_seed_budget_and_overrides():
    from types import SimpleNamespace

    from benchmarks.methods import deep_estimator

    ds = SimpleNamespace(n_clusters=7, image_shape=(1, 8, 8))
    est = deep_estimator("jcl", ds, seed=3, max_epochs=5, device="cpu", batch_size=64)
    assert type(est).__name__ == "JCLClustering"
    params = est.get_params()
    assert (params["n_clusters"], params["random_state"], params["device"]) == (7, 3, "cpu")
    assert (params["image_shape"], params["max_epochs"], params["batch_size"]) == ((1, 8, 8), 5, 64)
    preset = deep_estimator("drc", SimpleNamespace(n_clusters=2, image_shape=None), seed=0, preset="cifar-gpu")
    assert preset.get_params()["backbone"] == "resnet18" and preset.get_params()["max_epochs"] == "auto"


def _tiny(kind="tabular", shape=(4,), n=60, k=3):
    import numpy as np

    from benchmarks.datasets import Dataset

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(k), n // k)
    X = (rng.normal(size=(n, *shape)) + 100 * y.reshape(-1, *([1] * len(shape)))).astype(np.float32)
    return Dataset("tiny", X, y, np.arange(0, n, 2), np.arange(1, n, 2), k, kind=kind)


def test_classical_baselines_fit_raw_and_standardised_tables():
    import numpy as np

    from benchmarks.methods import METHODS

    ds = _tiny()
    for name in ("kmeans", "kmeans_std", "gmm_std"):
        res = METHODS[name](ds, ds.fit_index, ds.test_index, 0, None, "cpu", "default")
        assert len(res.labels_fit) == 30 and len(res.labels_test) == 30 and res.epochs == ""
        assert len(np.unique(res.labels_fit)) == 3
    assert "raw values" in METHODS["kmeans"](ds, ds.fit_index, None, 0, None, "cpu", "default").config


def test_not_applicable_skips_large_image_gmm_and_large_tsne():
    from benchmarks.methods import not_applicable

    assert not_applicable("gmm_std", _tiny("images", (32, 32, 1)), 60).startswith("full-covariance GMM")
    assert not_applicable("gmm_std", _tiny("images", (16, 16, 1)), 60) is None
    assert not_applicable("gmm_std", _tiny("tabular", (1100,), n=6), 6) is None  # tables are never skipped
    assert "t-SNE" in not_applicable("tsne_kmeans", _tiny(), 20001)
    assert not_applicable("kmeans", _tiny("images", (32, 32, 3)), 10**6) is None


def test_overrides_round_trip_through_the_config_text():
    from benchmarks.methods import overrides_text, parse_override

    overrides = {"temperature": 0.5, "augment": "none", "image_shape": (1, 8, 8)}
    text = overrides_text(overrides)
    assert text == "set temperature=0.5 augment='none' image_shape=(1, 8, 8)"
    assert overrides_text({}) == ""
    assert dict(parse_override(t) for t in ["temperature=0.5", "augment='none'", "image_shape=(1,8,8)"]) == overrides


def test_run_suite_and_set_overrides_reach_the_deep_methods_and_the_csv(tmp_path, monkeypatch, capsys):
    import csv

    from benchmarks import datasets as D
    from benchmarks import methods as M
    from benchmarks import run

    seen = {}

    def fake_deep(ds, fit_index, test_index, seed, max_epochs, device, preset, overrides=None):
        seen[ds.name] = overrides
        labels = ds.y[fit_index]
        return M.Result(labels, None, 0.0, "1", "cpu", "default: x=1 | " + M.overrides_text(overrides))

    monkeypatch.setitem(M.METHODS, "drc", fake_deep)
    monkeypatch.setitem(D.SUITES, "dev", ["iris", "synthetic"])
    monkeypatch.setattr(M, "availability", lambda: {name: "ok" for name in M.METHODS})
    monkeypatch.setattr(run, "_versions", lambda: "test")  # importing umap/clustpy takes seconds
    rc = run.main(["--suite", "dev", "--method", "drc", "kmeans", "--seeds", "0", "--results-dir", str(tmp_path),
                   "--set", "temperature=0.5", "--set", "augment=none"])
    assert rc == 0
    assert seen == {"iris": {"temperature": 0.5, "augment": "none"}, "synthetic": {"temperature": 0.5, "augment": "none"}}
    with open(tmp_path / "iris.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["drc", "kmeans"]
    assert rows[0]["config"].endswith("set temperature=0.5 augment='none'") and float(rows[0]["acc"]) == 1.0
    assert "--set temperature=0.5" in rows[0]["command"]
    assert (tmp_path / "synthetic.csv").exists()


def test_run_prints_why_a_method_is_skipped(tmp_path, monkeypatch, capsys):
    from benchmarks import datasets as D
    from benchmarks import run

    monkeypatch.setitem(D.LOADERS, "tiny_images", lambda: _tiny("images", (32, 32, 1)))
    monkeypatch.setattr(run, "_versions", lambda: "test")
    monkeypatch.setattr(run.M, "availability", lambda: {name: "ok" for name in run.M.METHODS})
    assert run.main(["--dataset", "tiny_images", "--method", "gmm_std", "--seeds", "0",
                     "--results-dir", str(tmp_path)]) == 0
    assert "gmm_std: skipped on tiny_images (full-covariance GMM" in capsys.readouterr().out
    assert not (tmp_path / "tiny_images.csv").exists()
