"""Alarms: what they watch, at which threshold, and how they reach the topic and the scaler."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_support import Synthesized

from stacks.alarms import INSIGHTS_RANGE_S, MAX_ALARM_NAME, alarm_name, evaluation_for

pytestmark = pytest.mark.infrastructure

PREFIX = "KafkaAutoscaler-orders/"
HEALTH = {f"{PREFIX}health/{name}" for name in ("scaler-errors", "rebalancer-errors", "rebalance-failed")}


def alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """Alarm name -> properties."""
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()}


def metric_stats(properties: dict[str, Any]) -> list[dict[str, Any]]:
    return [query["MetricStat"] for query in properties["Metrics"] if "MetricStat" in query]


def returned_expression(properties: dict[str, Any]) -> str:
    (expression,) = [q["Expression"] for q in properties["Metrics"] if q.get("ReturnData", True) and "Expression" in q]
    return str(expression)


def dimensions(stat: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}


def test_one_alarm_per_kind_and_group_for_the_policies_that_are_on(example: Synthesized) -> None:
    assert set(alarms(example)) == {
        f"{PREFIX}cpu/brokers",
        f"{PREFIX}disk/brokers",
        f"{PREFIX}lag/orders-processor",
        f"{PREFIX}lag/audit-archiver",
        *HEALTH,
    }


def insights_query(properties: dict[str, Any]) -> tuple[str, int]:
    (query,) = properties["Metrics"]
    assert query["ReturnData"] is True
    return str(query["Expression"]), int(query["Period"])


def test_broker_cpu_alarm_is_one_query_over_every_broker_of_the_cluster(example: Synthesized) -> None:
    """Metrics Insights, grouped by broker: a broker added later (any ID) is watched without a redeploy."""
    cpu = alarms(example)[f"{PREFIX}cpu/brokers"]
    query, period = insights_query(cpu)
    assert query == (
        'SELECT AVG(CpuIdle) FROM SCHEMA("AWS/Kafka", "Broker ID", "Cluster Name") '
        'WHERE "Cluster Name" = \'orders\' GROUP BY "Broker ID"'
    )
    assert period == 60
    assert cpu["Threshold"] == 40  # idle below 100 - brokers.cpu_target_pct (60)
    assert cpu["ComparisonOperator"] == "LessThanThreshold"
    assert cpu["EvaluationPeriods"] == cpu["DatapointsToAlarm"] == 15  # cpu_window_s 900 at one minute
    assert cpu["TreatMissingData"] == "notBreaching"


def test_disk_alarm_at_the_configured_use_on_every_broker(example: Synthesized) -> None:
    disk = alarms(example)[f"{PREFIX}disk/brokers"]
    query, period = insights_query(disk)
    assert query.startswith('SELECT MAX(KafkaDataLogsDiskUsed) FROM SCHEMA("AWS/Kafka", "Broker ID", "Cluster Name")')
    assert query.endswith('GROUP BY "Broker ID"')
    assert period == 300
    assert disk["Threshold"] == 85  # storage.alarm_used_pct
    assert disk["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(("window_s", "periods"), [(900, 15), (3 * 3600, 36), (6 * 3600, 36)])
def test_insights_alarms_evaluate_within_the_three_hours_cloudwatch_allows(window_s: int, periods: int) -> None:
    period, count = evaluation_for(window_s, INSIGHTS_RANGE_S)
    assert count == periods
    assert period.to_seconds() * count <= INSIGHTS_RANGE_S


def test_lag_alarms_use_msk_lag_per_group_and_topic(example: Synthesized) -> None:
    time_lag = alarms(example)[f"{PREFIX}lag/orders-processor"]
    (stat,) = metric_stats(time_lag)
    assert stat["Metric"]["MetricName"] == "EstimatedMaxTimeLag"
    assert dimensions(stat) == {"Consumer Group": "orders-processor", "Topic": "orders", "Cluster Name": "orders"}
    assert time_lag["Threshold"] == 60  # target_time_lag_s
    offset_lag = alarms(example)[f"{PREFIX}lag/audit-archiver"]
    assert returned_expression(offset_lag) == "SUM([t0, t1])"
    stats = metric_stats(offset_lag)
    assert {s["Metric"]["MetricName"] for s in stats} == {"SumOffsetLag"}
    assert sorted(dimensions(s)["Topic"] for s in stats) == ["orders", "payments"]
    assert offset_lag["Threshold"] == 5000  # lag_threshold x min_tasks (1)


def test_groups_msk_cannot_alarm_on_fall_back_to_the_scalers_own_metrics(variant: Synthesized) -> None:
    found = alarms(variant)
    (no_topics,) = metric_stats(found[f"{PREFIX}lag/orders-processor"])
    assert (no_topics["Metric"]["Namespace"], no_topics["Metric"]["MetricName"]) == (
        "KafkaAutoscaler",
        "MaxTimeLagSeconds",
    )
    assert dimensions(no_topics) == {"ConsumerGroup": "orders-processor"}
    (eleven_topics,) = metric_stats(found[f"{PREFIX}lag/audit-archiver"])
    assert eleven_topics["Metric"]["MetricName"] == "TotalLag"
    assert dimensions(eleven_topics) == {"ConsumerGroup": "audit-archiver"}


def test_brokers_off_and_aws_storage_scaling_leave_no_broker_alarms(variant: Synthesized) -> None:
    assert not [name for name in alarms(variant) if "/cpu/" in name or "/disk/" in name]


@pytest.mark.parametrize("synth_name", ["example", "variant"])
def test_every_alarm_notifies_the_topic_and_nothing_else(synth_name: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(synth_name)
    topics = list(synth.resources("AWS::SNS::Topic"))
    expected = [{"Ref": topics[0]}] if topics else ["arn:aws:sns:eu-west-1:123456789012:platform-alerts"]
    for name, properties in alarms(synth).items():
        assert properties["AlarmActions"] == expected, name
        assert "OKActions" not in properties
        assert "InsufficientDataActions" not in properties


def test_one_rule_starts_the_scaler_on_the_scaling_alarms_only(example: Synthesized) -> None:
    rules = [
        r["Properties"] for r in example.resources("AWS::Events::Rule").values() if "EventPattern" in r["Properties"]
    ]
    (rule,) = rules
    prefixes = [f"{PREFIX}cpu/", f"{PREFIX}disk/", f"{PREFIX}lag/"]
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": p} for p in prefixes], "state": {"value": ["ALARM"]}},
    }
    (target,) = rule["Targets"]
    assert target["Arn"]["Fn::GetAtt"][0].startswith("FunctionsScalerFunction")
    started = {name for name in alarms(example) if any(name.startswith(p) for p in prefixes)}
    assert started == set(alarms(example)) - HEALTH
    # The autoscaler's own health alarms must not start the scaler.
    assert not [name for name in HEALTH if any(name.startswith(p) for p in prefixes)]


def test_scaler_failing_three_ticks_in_a_row_is_told(example: Synthesized) -> None:
    errors = alarms(example)[f"{PREFIX}health/scaler-errors"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert (errors["Threshold"], errors["EvaluationPeriods"], errors["Period"]) == (1, 3, 60)
    assert errors["Dimensions"][0]["Value"]["Ref"].startswith("FunctionsScalerFunction")


def test_rebalance_steps_failing_again_and_again_are_told(example: Synthesized) -> None:
    errors = alarms(example)[f"{PREFIX}health/rebalancer-errors"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert (errors["Threshold"], errors["EvaluationPeriods"], errors["Period"]) == (3, 1, 900)
    assert errors["Dimensions"][0]["Value"]["Ref"].startswith("FunctionsRebalancerFunction")


def test_a_failed_timed_out_or_aborted_rebalance_is_told(example: Synthesized) -> None:
    failed = alarms(example)[f"{PREFIX}health/rebalance-failed"]
    assert returned_expression(failed) == "failed + timedout + aborted"
    stats = metric_stats(failed)
    assert sorted(s["Metric"]["MetricName"] for s in stats) == [
        "ExecutionsAborted",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    ]
    for stat in stats:
        assert stat["Metric"]["Namespace"] == "AWS/States"
        (dimension,) = stat["Metric"]["Dimensions"]
        assert dimension["Name"] == "StateMachineArn"
        assert dimension["Value"] == {"Fn::GetAtt": [state_machine_id(example), "Arn"]}
        assert stat["Stat"] == "Sum"
    assert (failed["Threshold"], failed["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def state_machine_id(synth: Synthesized) -> str:
    (logical_id,) = synth.resources("AWS::StepFunctions::StateMachine")
    return str(logical_id)


@pytest.mark.parametrize(
    ("window_s", "period_s", "periods"),
    [
        (60, 60, 1),  # the shortest window: one minute
        (900, 60, 15),
        (3600, 60, 60),
        (3601, 300, 13),  # past an hour: five-minute periods
        (86400, 3600, 24),
        (10 * 86400, 3600, 24),  # capped at CloudWatch's one-day evaluation range
    ],
)
def test_evaluation_covers_the_window_within_one_day(window_s: int, period_s: int, periods: int) -> None:
    period, count = evaluation_for(window_s)
    assert (period.to_seconds(), count) == (period_s, periods)


def test_alarm_names_stay_within_cloudwatchs_limit_and_unique() -> None:
    long_a, long_b = "g" * 300 + "a", "g" * 300 + "b"
    name_a, name_b = alarm_name(PREFIX, "lag", long_a), alarm_name(PREFIX, "lag", long_b)
    assert len(name_a) == len(name_b) == MAX_ALARM_NAME
    assert name_a != name_b
    assert name_a.startswith(PREFIX)
    assert alarm_name(PREFIX, "lag", "short") == f"{PREFIX}lag/short"
