"""The configuration schema: the example is valid; each mistake gets one line naming its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka_autoscaler.cli import main
from kafka_autoscaler.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "autoscaler.yaml"


def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_example_is_valid_and_complete() -> None:
    config = load_config(EXAMPLE)
    assert config.cluster.name == "orders" and config.cluster.region == "eu-west-1"
    assert [b.group_id for b in config.consumers] == ["orders-processor", "audit-archiver"]
    assert config.brokers.max_brokers % config.brokers.az_count == 0


def test_validate_exits_0_on_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "valid" in capsys.readouterr().out


# (what to change, the field path the message must name, words it must contain)
BROKEN = [
    (lambda d: d["consumers"][0].update(min_tasks=30), "consumers.0", "min_tasks (30) is above max_tasks (24)"),
    (lambda d: d["consumers"][0].update(mode="timelag"), "consumers.0.mode", "'time_lag' or 'lag_threshold'"),
    (lambda d: d["brokers"].update(max_brokers=13), "brokers", "not a multiple of az_count (3)"),
    (lambda d: d["brokers"].update(cpu_target_pct=120), "brokers.cpu_target_pct", "less than 100"),
    (lambda d: d["storage"].update(target_used_pct=90), "storage", "must be below alarm_used_pct"),
    (lambda d: d["storage"].update(mode="both"), "storage.mode", "'scaler', 'aws_target_tracking' or 'off'"),
    (lambda d: d["storage"].update(max_volume_gib=20000), "storage.max_volume_gib", "16384"),
    (lambda d: d["cluster"].update(arn="arn:aws:kafka:eu-west-1:1:cluster/x"), "cluster.arn", "MSK cluster ARN"),
    (lambda d: d["cluster"].update(bootstrap_servers="b-1:abc"), "cluster.bootstrap_servers", "not host:port"),
    (lambda d: d["cluster"]["auth"].update(mechanism="scram"), "cluster.auth", "scram_secret_arn is required"),
    (lambda d: d.update(dryrun=True), "dryrun", "unknown field"),
    (
        lambda d: d["consumers"].append(dict(d["consumers"][0])),
        "consumers.2.group_id",
        "bound twice (also consumers.0)",
    ),
]


@pytest.mark.parametrize(("change", "path", "words"), BROKEN, ids=[b[1] + ":" + b[2][:20] for b in BROKEN])
def test_a_broken_config_names_the_field(change: Any, path: str, words: str) -> None:
    data = example()
    change(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "broken.yaml")
    assert any(p.startswith(f"{path}: ") and words in p for p in caught.value.problems), caught.value.problems


def test_validate_exits_2_naming_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = example()
    data["brokers"]["max_brokers"] = 13
    data["storage"]["mode"] = "both"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["validate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "brokers: max_brokers (13)" in err and "storage.mode:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cluster: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("", "must be a mapping"),
    ],
)
def test_unreadable_yaml_is_a_config_error(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert words in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.yaml")
