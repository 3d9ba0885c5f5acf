"""Findings as decisions of the tick: holds that are told once, and again only when they change."""

from __future__ import annotations

from kafka_autoscaler.advice.checks import AdviceContext, Finding, run_checks
from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import Action, Decision, Reason, Snapshot, Target

ADVICE_KEY_PREFIX = "advice:"


def finding_decision(finding: Finding) -> Decision:
    """A hold keyed by the finding's id and subject; its `fingerprint` changes when the finding does."""
    return Decision(
        Target.ADVICE,
        f"{ADVICE_KEY_PREFIX}{finding.id}:{finding.subject}",
        Action.HOLD,
        0,
        0,
        Reason.ADVICE,
        f"advice {finding.id} ({finding.severity.value}), {finding.subject}: {finding.evidence}. "
        f"Fix: {finding.fix} See {finding.doc}",
        {**finding.as_dict(), "fingerprint": f"{finding.severity.value}|{finding.state}"},
    )


def advice_decisions(snapshot: Snapshot, config: AutoscalerConfig) -> tuple[Decision, ...]:
    """One decision per finding; none when the configuration was not read this tick."""
    if snapshot.facts is None:
        return ()
    findings = run_checks(AdviceContext(snapshot.facts, config, snapshot.cluster))
    return tuple(finding_decision(f) for f in findings)
