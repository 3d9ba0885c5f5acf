"""The heartbeat: an EventBridge rule that runs the scaler every `schedule.rate_minutes`."""

from __future__ import annotations

from aws_cdk import Duration, aws_lambda
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct


class Schedule(Construct):
    """Alarms fire once per state change; this rule is what re-checks, tick after tick."""

    def __init__(self, scope: Construct, construct_id: str, *, scaler: aws_lambda.IFunction, rate_minutes: int) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Runs the kafka-autoscaler scaler every {rate_minutes} minute(s)",
            schedule=events.Schedule.rate(Duration.minutes(rate_minutes)),
            # The scheduled event itself: the handler reads "Scheduled Event" from it.
            targets=[targets.LambdaFunction(scaler, retry_attempts=0)],
        )
