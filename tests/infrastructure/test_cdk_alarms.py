"""Alarms: what they watch, at which threshold, and how they reach the topic and the scaler."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_support import Synthesized

from stacks.alarms import MAX_ALARM_NAME, alarm_name, evaluation_for

pytestmark = pytest.mark.infrastructure

PREFIX = "KafkaAutoscaler-orders/"


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


def test_one_alarm_per_broker_and_group_for_the_policies_that_are_on(example: Synthesized) -> None:
    names = set(alarms(example))
    brokers = range(1, 13)  # max_brokers: 12
    assert names == {
        *(f"{PREFIX}cpu/broker-{b}" for b in brokers),
        *(f"{PREFIX}disk/broker-{b}" for b in brokers),
        f"{PREFIX}lag/orders-processor",
        f"{PREFIX}lag/audit-archiver",
        "KafkaAutoscaler-orders-scaler-errors",
    }


def test_broker_cpu_alarm_adds_user_and_system_cpu_over_the_window(example: Synthesized) -> None:
    cpu = alarms(example)[f"{PREFIX}cpu/broker-7"]
    assert returned_expression(cpu) == "user7 + system7"
    stats = metric_stats(cpu)
    assert sorted(s["Metric"]["MetricName"] for s in stats) == ["CpuSystem", "CpuUser"]
    for stat in stats:
        assert stat["Metric"]["Namespace"] == "AWS/Kafka"
        assert dimensions(stat) == {"Cluster Name": "orders", "Broker ID": "7"}
        assert stat["Period"] == 60
    assert cpu["Threshold"] == 60  # brokers.cpu_target_pct
    assert cpu["EvaluationPeriods"] == cpu["DatapointsToAlarm"] == 15  # cpu_window_s 900 at one minute
    assert cpu["ComparisonOperator"] == "GreaterThanThreshold"
    assert cpu["TreatMissingData"] == "notBreaching"


def test_disk_alarm_at_the_configured_use(example: Synthesized) -> None:
    disk = alarms(example)[f"{PREFIX}disk/broker-3"]
    (stat,) = metric_stats(disk)
    assert stat["Metric"]["MetricName"] == "KafkaDataLogsDiskUsed"
    assert dimensions(stat) == {"Cluster Name": "orders", "Broker ID": "3"}
    assert disk["Threshold"] == 85  # storage.alarm_used_pct


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


def test_one_rule_starts_the_scaler_on_these_alarms_only(example: Synthesized) -> None:
    rules = [
        r["Properties"] for r in example.resources("AWS::Events::Rule").values() if "EventPattern" in r["Properties"]
    ]
    (rule,) = rules
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": PREFIX}], "state": {"value": ["ALARM"]}},
    }
    (target,) = rule["Targets"]
    assert target["Arn"]["Fn::GetAtt"][0].startswith("FunctionsScalerFunction")
    started = {name for name in alarms(example) if name.startswith(PREFIX)}
    assert len(started) == 26
    # The scaler's own failure alarm must not start the scaler.
    assert not "KafkaAutoscaler-orders-scaler-errors".startswith(PREFIX)


def test_scaler_failing_three_ticks_in_a_row_is_told(example: Synthesized) -> None:
    errors = alarms(example)["KafkaAutoscaler-orders-scaler-errors"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert (errors["Threshold"], errors["EvaluationPeriods"], errors["Period"]) == (1, 3, 60)


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
