"""``benchmarks/neighbor_search.py``: both searches timed on one table, with the recall."""

import json

import numpy as np
import pytest

from benchmarks.neighbor_search import main, make_table, recall


def test_recall_counts_the_exact_neighbours_found():
    exact = np.array([[1, 2], [0, 2]])
    assert recall(exact, exact) == 1.0
    assert recall(np.array([[1, 3], [4, 5]]), exact) == 0.25


def test_make_table_is_float32_and_seeded():
    a, b = make_table(30, 4, 3, noise=False), make_table(30, 4, 3, noise=False)
    assert a.dtype == np.float32 and a.shape == (30, 4) and np.array_equal(a, b)
    assert make_table(30, 4, 3, noise=True).shape == (30, 4)


def test_main_writes_one_record_per_size(tmp_path, capsys):
    pytest.importorskip("pynndescent")
    out = tmp_path / "search.jsonl"
    assert main(["--rows", "300", "600", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rows"] for r in records] == [300, 600]
    assert all(r["recall"] > 0.9 and r["exact_s"] >= 0 and r["approximate_s"] >= 0 for r in records)
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("speedup=")
