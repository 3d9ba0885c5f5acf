"""`simulate` and `bench` as a user runs them; `bench --quick` is the short bench CI runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka_autoscaler.cli import main
from kafka_autoscaler.sim.trace import write_trace

METRICS = {
    "slo_violation_s",
    "p99_time_lag_s",
    "max_time_lag_s",
    "task_hours",
    "scaling_actions",
    "rebalances",
    "peak_tasks",
}
POLICIES = {"time-lag", "lag-threshold", "keda", "target-tracking", "static", "oracle"}
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
    ],
)
def test_simulate_rejects_bad_input_with_a_clear_message(
    trace_file: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--trace", str(trace_file), *argv]) == 2
    assert message in capsys.readouterr().err


def test_bench_quick_runs_every_policy_on_every_shipped_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    html = tmp_path / "bench.html"
    assert main(["bench", "--quick", "--json", "--html", str(html)]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    traces = {p.stem for p in (REPO / "bench" / "traces").glob("*.csv")}
    assert {(r["trace"], r["policy"]) for r in results} == {(t, p) for t in traces for p in POLICIES}
    by = {(r["trace"], r["policy"]): r for r in results}
    for result in results:
        assert set(result) >= METRICS
        assert result["produced"] == result["consumed"] + result["backlog"]
    for trace in traces:
        assert by[(trace, "static")]["scaling_actions"] == 0
        assert by[(trace, "oracle")]["task_hours"] <= by[(trace, "static")]["task_hours"]
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") == len(traces)
    assert "<script" not in page and "src=" not in page  # self-contained: nothing fetched
