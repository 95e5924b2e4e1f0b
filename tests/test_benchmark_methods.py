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
