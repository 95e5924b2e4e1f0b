"""``benchmarks/report.py``: the dev-suite summary table, from a few synthetic CSV rows."""

import os
import shutil
import subprocess

import pytest

from benchmarks import report as R


def _row(dataset, method, seed, acc, config="c", epochs="", protocol="all", n_fit="100"):
    row = {k: "" for k in R.FIELDS}
    row.update(dataset=dataset, method=method, seed=str(seed), acc=str(acc), config=config, epochs=epochs,
               protocol=protocol, n_fit=n_fit, device="cpu", seconds="1", timestamp=f"2025-01-01T00:00:0{seed}",
               command="python -m benchmarks.run ...", hardware="hw", versions="v")
    return row


def _rows():
    rows = []
    for seed in range(3):
        rows += [_row("iris", "kmeans", seed, 0.80), _row("iris", "kmeans_std", seed, 0.70),
                 _row("iris", "gmm_std", seed, 0.90 + 0.01 * seed),
                 _row("iris", "drc", seed, 0.95, "default: lr=0.001", "50"),
                 _row("iris", "scl", seed, 0.85, "default: lr=0.001", "50"),
                 # a sweep with --set: in the per-set tables, not in the defaults' summary
                 _row("iris", "scl", seed, 0.99, "default: lr=0.001 | set temperature=0.5", "50"),
                 _row("coil20", "kmeans", seed, 0.60), _row("coil20", "umap_kmeans", seed, 0.85),
                 _row("coil20", "kmeans", seed, 0.10, protocol="heldout")]
    rows.append(_row("not_in_suite", "kmeans", 0, 0.5))
    return rows


def test_dev_suite_summary_picks_the_best_classical_and_the_defaults():
    summ = {s["dataset"]: s for s in R.dev_suite_summary(_rows())}
    assert list(summ) == ["coil20", "iris"]  # suite order, only sets with rows
    assert summ["iris"]["best_classical"] == "gmm_std" and summ["coil20"]["best_classical"] == "kmeans"
    assert summ["iris"]["groups"]["scl"]["acc"] == [0.85] * 3  # the --set sweep is left out
    assert summ["coil20"]["groups"]["kmeans"]["acc"] == [0.60] * 3  # protocol 'all' only
    assert summ["iris"]["kind"] == "tabular" and summ["coil20"]["kind"] == "images"


def test_dev_suite_table_says_which_estimator_beats_the_best_classical():
    lines = R.dev_suite_table(_rows()).splitlines()
    assert lines[0].startswith("| data | kind | n | best classical")
    coil, iris = lines[2], lines[3]
    assert coil.startswith("| coil20 | images | 100 | 0.600 ± 0.000 (KMeans raw) | – | 0.850 ± 0.000 |")
    assert coil.endswith(f"| – | {R.CHOSEN_ON['coil20']} |")  # no deep estimator run
    assert "0.910 ± 0.010 (GMM std)" in iris and "0.950 ± 0.000 (50 ep)" in iris
    assert iris.endswith(f"| DRC yes, SCL no | {R.CHOSEN_ON['iris']} |")
    assert set(R.CHOSEN_ON) == set(R.DEV_SUITE)  # every set of the suite says what it chose
    assert R.dev_suite_table([]) == "(no dev-suite runs)"


def test_readme_dev_suite_markers_are_filled_when_present(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- readme-table -->\nold\n<!-- /readme-table -->\nmid\n"
                      "<!-- dev-suite-table -->\nold dev\n<!-- /dev-suite-table -->\nend\n")
    R.update_readme(readme, _rows())
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert "| iris | tabular |" in text and "mid\n<!-- dev-suite-table -->\n| data | kind |" in text
    plain = tmp_path / "plain.md"  # without the dev-suite markers only the main table is written
    plain.write_text("<!-- readme-table -->\n<!-- /readme-table -->\n")
    R.update_readme(plain, _rows())
    assert "dev-suite" not in plain.read_text() and "| iris |" not in plain.read_text()


def test_render_has_the_dev_suite_section_and_a_section_per_new_set(tmp_path):
    import csv

    for ds in ("iris", "coil20"):
        with open(tmp_path / f"{ds}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=R.FIELDS)
            w.writeheader()
            w.writerows(r for r in _rows() if r["dataset"] == ds)
    text = R.render(tmp_path)
    assert "## Development suite" in text and "## iris" in text and "## coil20" in text
    assert text.index("## Development suite") < text.index("## digits") < text.index("## coil20")


def test_stale_groups_counts_package_commits_after_each_group():
    rows = _rows()
    for r in rows:
        r["git_commit"] = "old1234" if r["method"] == "drc" else "new5678+dirty"
    since = {"old1234": 7, "new5678+dirty": 0}
    groups = R.stale_groups(rows, since=since.get)
    # Only the estimators' default groups of the dev suite, most changed first.
    assert [(g["dataset"], g["method"], g["package_commits_since"]) for g in groups] == [
        ("iris", "drc", 7), ("iris", "scl", 0)]
    assert groups[0]["commits"] == ["old1234"]
    table = R.stale_table(groups).splitlines()
    assert table[2] == "| iris | drc | 2025-01-01 | old1234 | 7 |"
    # A commit git cannot place (here: one unknown to the lookup) makes the group unknown, not fresh.
    next(r for r in rows if r["method"] == "scl" and "set" not in r["config"])["git_commit"] = "gone000"
    unknown = {g["method"]: g["package_commits_since"] for g in R.stale_groups(rows, since=since.get)}
    assert unknown == {"drc": 7, "scl": None}


def test_package_commits_since_is_none_where_git_cannot_tell(tmp_path):
    assert R.package_commits_since("", repo=tmp_path) is None
    assert R.package_commits_since("0000000", repo=tmp_path) is None  # not a repository


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_package_commits_since_counts_only_commits_that_change_the_package(tmp_path):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path), "PATH": os.environ["PATH"]}

    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "deepclust").mkdir()
    commits = []
    for path, text in [("deepclust/a.py", "1"), ("deepclust/a.py", "2"), ("README.md", "x"), ("deepclust/b.py", "3")]:
        (tmp_path / path).write_text(text)
        git("add", path)
        git("commit", "-q", "-m", path)
        commits.append(git("rev-parse", "--short", "HEAD"))
    assert R.package_commits_since(commits[0], repo=tmp_path) == 2  # the README commit does not count
    assert R.package_commits_since(commits[2] + "+dirty", repo=tmp_path) == 1
    assert R.package_commits_since(commits[3], repo=tmp_path) == 0
