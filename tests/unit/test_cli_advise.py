"""`kafka-autoscaler advise`: arguments, exit codes and output, with the reading of Kafka replaced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka_autoscaler.advice.facts import BrokerFacts, ClusterFacts, GroupFacts
from kafka_autoscaler.cli import advise, main


class _Admin:
    def close(self) -> None:
        return None


def _facts(assignor: str) -> ClusterFacts:
    broker = BrokerFacts(1, {"auto.create.topics.enable": "false", "num.partitions": "12"})
    return ClusterFacts((broker,), (), (GroupFacts("g", "classic", "Stable", assignor, 3),), {1: 10})


@pytest.fixture
def kafka_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, ClusterFacts]:
    answer = {"facts": _facts("range")}

    class Reader:
        def __init__(self, admin: Any) -> None:
            self.admin = admin

        def read(self, group_ids: Any) -> ClusterFacts:
            assert group_ids is None  # the command looks at every group
            return answer["facts"]

    monkeypatch.setattr(advise, "KafkaAdminClient", lambda **_: _Admin())
    monkeypatch.setattr(advise, "KafkaFactsReader", Reader)
    return answer


def test_a_warning_exits_1_and_is_printed_as_json(kafka_reads: dict[str, ClusterFacts], capsys: Any) -> None:
    assert main(["advise", "--bootstrap-server", "127.0.0.1:9092", "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert [f["id"] for f in answer["findings"]] == ["eager_assignor"]
    assert answer["worst"] == "warning" and answer["groups"] == ["g"]


def test_clean_exits_0_and_says_so(kafka_reads: dict[str, ClusterFacts], capsys: Any) -> None:
    kafka_reads["facts"] = _facts("cooperative-sticky")
    assert main(["advise", "--bootstrap-server", "127.0.0.1:9092"]) == 0
    assert "no findings" in capsys.readouterr().out


def test_the_text_gives_evidence_fix_and_link(kafka_reads: dict[str, ClusterFacts], capsys: Any) -> None:
    main(["advise", "--bootstrap-server", "127.0.0.1:9092"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[warning] eager_assignor (group g): group g uses the eager 'range' assignor")
    assert lines[1].startswith("    fix: ") and lines[2].startswith("    see: https://")


def test_nothing_to_read_from_is_exit_2(capsys: Any) -> None:
    assert main(["advise"]) == 2
    assert "give --config FILE, --bootstrap-server HOST:PORT, or both" in capsys.readouterr().err


def test_an_invalid_configuration_is_exit_2(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cluster: {arn: nope}\n", encoding="utf-8")
    assert main(["advise", "--config", str(path), "--bootstrap-server", "127.0.0.1:9092"]) == 2
    assert "cluster.arn" in capsys.readouterr().err
