"""What a person reads: the tick's decisions as a subject, a text body and a JSON payload."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka_autoscaler.model import Outcome, OutcomeStatus, Reason, ScalerState

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
    }
)
SUBJECT_LIMIT = 100  # SNS subjects are at most 100 characters


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
    """Changes, failures, and notable holds, each said once until it changes."""
    told: list[Outcome] = []
    for outcome in outcomes:
        decision = outcome.decision
        notable = decision.changes_something or decision.reason in NOTABLE_HOLDS
        if outcome.status is OutcomeStatus.FAILED or (
            notable and state.last_notified.get(decision.key) != signature(outcome)
        ):
            told.append(outcome)
    return told


_STATUS_WORDS = {
    OutcomeStatus.APPLIED: "done",
    OutcomeStatus.SKIPPED_DRY_RUN: "dry run, not applied",
    OutcomeStatus.SKIPPED_PAUSED: "paused, not applied",
    OutcomeStatus.FAILED: "FAILED",
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
    subject = f"[kafka-autoscaler] {cluster_name}: {headline}"
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 3] + "..."
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
