"""What a person reads: the tick's decisions as a subject, a text body and a JSON payload."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka_autoscaler.model import Outcome, OutcomeStatus, Reason, ScalerState
from kafka_autoscaler.policy.failures import CLEARED

# Holds worth telling once when they start: each asks a person to look.
NOTABLE_HOLDS = frozenset(
    {
        Reason.STUCK_PARTITION,
        Reason.HOT_PARTITION,
        Reason.AT_MAX,
        Reason.AT_MAX_VOLUME,
        Reason.STORAGE_CHANGE_TOO_SOON,
        Reason.MISSING_DATA,
        Reason.PARTITIONS_UNBALANCED,
        Reason.DRAIN_PENDING,
        Reason.ADVICE,
        Reason.PARTITIONS_CAP_LATE_GROUP,
        Reason.KEYED_TOPIC,
        Reason.PARTITIONS_AT_MAX,
        Reason.AT_LARGEST_TYPE,
        Reason.SCALE_IN_UNSUPPORTED,
        Reason.AUTOSCALING_OWNS,
        Reason.EXTERNAL_CHANGE,
        Reason.INTENT_UNCONFIRMED,
    }
)
# SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less
# than 100 characters long" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
SUBJECT_LIMIT = 99


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    payload: dict[str, Any]

    def as_json(self) -> str:
        return json.dumps(self.payload, sort_keys=True, default=str)


def signature(outcome: Outcome) -> str:
    d = outcome.decision
    told = f"{d.action.value}:{d.reason.value}:{d.desired}:{outcome.status.value}"
    # A finding of the advisor is the same hold every tick; what it says is in its fingerprint.
    return f"{told}:{d.details['fingerprint']}" if "fingerprint" in d.details else told


def worth_telling(outcomes: Sequence[Outcome], state: ScalerState) -> list[Outcome]:
    """Changes, failures, and notable holds, each said once until it changes.

    A failure is told once per distinct error: the same refusal again is remembered, not retold.
    """
    told: list[Outcome] = []
    for outcome in outcomes:
        decision = outcome.decision
        if outcome.status is OutcomeStatus.FAILED:
            known = state.failures.get(decision.key)
            if known is None or known.error != outcome.detail:
                told.append(outcome)
            continue
        notable = decision.changes_something or decision.reason in NOTABLE_HOLDS or CLEARED in decision.details
        if notable and state.last_notified.get(decision.key) != signature(outcome):
            told.append(outcome)
    return told


def subject_line(text: str) -> str:
    """A valid SNS subject: control characters and line breaks as spaces, under 100 characters."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return clean if len(clean) <= SUBJECT_LIMIT else clean[: SUBJECT_LIMIT - 3] + "..."


_STATUS_WORDS = {
    OutcomeStatus.APPLIED: "done",
    OutcomeStatus.SKIPPED_DRY_RUN: "dry run, not applied",
    OutcomeStatus.SKIPPED_PAUSED: "paused, not applied",
    OutcomeStatus.FAILED: "FAILED",
    OutcomeStatus.UNKNOWN: "outcome unknown, read back next tick",
}


def render(outcomes: Sequence[Outcome], cluster_name: str, decided_at: float) -> Message:
    """One message for a list of outcomes."""
    changes = [o for o in outcomes if o.decision.changes_something]
    failed = [o for o in outcomes if o.status is OutcomeStatus.FAILED]
    if failed:
        headline = f"{len(failed)} action(s) failed"
    elif changes:
        headline = "; ".join(f"{o.decision.key} {o.decision.current}->{o.decision.desired}" for o in changes)
    else:
        headline = outcomes[0].decision.reason.value if outcomes else "no decisions"
    subject = subject_line(f"[kafka-autoscaler] {cluster_name}: {headline}")
    lines = []
    for outcome in outcomes:
        shown = outcome.decision.changes_something or outcome.status is OutcomeStatus.FAILED
        status = f" [{_STATUS_WORDS[outcome.status]}]" if shown else ""
        detail = f" ({outcome.detail})" if outcome.detail else ""
        lines.append(f"- {outcome.decision.message}{status}{detail}")
    payload = {
        "cluster": cluster_name,
        "decided_at": decided_at,
        "decisions": [o.as_dict() for o in outcomes],
    }
    return Message(subject, "\n".join(lines), payload)
