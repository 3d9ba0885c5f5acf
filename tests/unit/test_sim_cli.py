"""`simulate` and `bench` as a user runs them; `bench --quick` is the short bench CI runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka_autoscaler.cli import main
from kafka_autoscaler.sim.trace import write_trace

METRICS = {
    "late_fraction",
    "late_2x_fraction",
    "p99_time_lag_s",
    "slo_violation_s",
    "task_hours",
    "scaling_actions",
    "rebalances",
    "peak_tasks",
    "lower_bound_task_hours",
}
POLICIES = {"time-lag", "lag-threshold", "keda", "target-tracking", "static", "clairvoyant"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "burst.csv"
    write_trace(path, [(0, 500.0), (600, 500.0), (620, 4000.0), (900, 4000.0), (920, 500.0), (1800, 500.0)])
    return path


def test_simulate_prints_one_json_object(trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "run.html"
    code = main(
        ["simulate", "--trace", str(trace_file), "--policy", "keda", "--partitions", "8", "--json", "--html", str(html)]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= METRICS
    assert result["policy"] == "keda" and result["trace"] == "burst"
    assert result["produced"] == result["consumed"] + result["backlog"]
    assert "<svg" in html.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--policy", "hpa"], "unknown policy 'hpa'"),
        (["--partitions", "0"], "partitions must be at least 1"),
        (["--task-capacity", "-5"], "task capacity must be positive"),
        (["--policy", "keda", "--lag-threshold", "0"], "lag threshold must be at least 1"),
        (["--policy", "static", "--lag-threshold", "5000"], "--lag-threshold applies to"),
    ],
)
def test_simulate_rejects_bad_input_with_a_clear_message(
    trace_file: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--trace", str(trace_file), *argv]) == 2
    assert message in capsys.readouterr().err


def test_simulate_takes_a_lag_threshold_and_runs_the_clairvoyant_plan(
    trace_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = []
    for argv in (["--policy", "keda", "--lag-threshold", "2000"], ["--policy", "keda"], ["--policy", "clairvoyant"]):
        assert main(["simulate", "--trace", str(trace_file), "--partitions", "8", "--json", *argv]) == 0
        rows.append(json.loads(capsys.readouterr().out))
    assert [r["lag_threshold"] for r in rows] == [2000, 30000, None]
    assert rows[0]["task_hours"] > rows[1]["task_hours"], "a lower threshold buys more tasks"
    assert rows[2]["task_hours"] >= rows[2]["lower_bound_task_hours"]


def test_bench_sweeps_thresholds_over_seeds_and_judges_every_trace_and_seed(
    trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "bench.html"
    traces = trace_file.parent
    assert (
        main(
            [
                "bench",
                "--quick",
                "--traces",
                str(traces),
                "--seeds",
                "2",
                "--partitions",
                "8",
                "--json",
                "--html",
                str(html),
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    results = document["results"]
    swept = {(r["policy"], r["lag_threshold"]) for r in results if r["lag_threshold"] is not None}
    assert swept == {(p, t) for p in ("lag-threshold", "keda", "target-tracking") for t in (3000, 10000, 30000)}
    assert {r["policy"] for r in results} == POLICIES and {r["seed"] for r in results} == {1, 2}
    for result in results:
        assert set(result) >= METRICS
        assert result["produced"] == result["consumed"] + result["backlog"]
    assert {(v["trace"], v["seed"]) for v in document["verdicts"]} == {("burst", 1), ("burst", 2)}
    for verdict in document["verdicts"]:
        ours = next(r for r in results if r["policy"] == "time-lag" and r["seed"] == verdict["seed"])
        rivals = [r for r in results if r["seed"] == verdict["seed"] and r["policy"] not in ("time-lag", "clairvoyant")]
        dominating = [
            r for r in rivals if r["late_fraction"] < ours["late_fraction"] and r["task_hours"] < ours["task_hours"]
        ]
        assert verdict["dominated"] == bool(dominating)
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") == 2  # the trade-off plot and the timeline
    assert "<script" not in page and "src=" not in page  # self-contained: nothing fetched
