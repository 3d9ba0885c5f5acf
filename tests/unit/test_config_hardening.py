"""Hostile configuration files: each gets one clear line with the field's path, exit 2, never a traceback."""

from __future__ import annotations

import copy
import math
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import mutate
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.cli import main
from kafka_autoscaler.config import INT32_MAX, AutoscalerConfig, ConfigError, load_config, load_yaml, parse_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "autoscaler.yaml"


def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


# (what to change, the field path the message must name, words it must contain)
HOSTILE = [
    (_set("consumers.0.task_throughput_msgs_per_s", math.inf), "consumers.0.task_throughput_msgs_per_s", "finite"),
    (_set("consumers.0.target_time_lag_s", math.nan), "consumers.0.target_time_lag_s", "finite"),
    (_set("brokers.cpu_target_pct", -math.inf), "brokers.cpu_target_pct", "finite"),
    (_set("consumers.0.max_tasks", 2**31), "consumers.0.max_tasks", "32-bit"),
    (_set("consumers.0.lag_threshold", 10**40), "consumers.0.lag_threshold", "32-bit"),
    (_set("brokers.cooldown_s", INT32_MAX + 5), "brokers.cooldown_s", "32-bit"),
    (_set("cluster.bootstrap_servers", "b-1.example.com"), "cluster.bootstrap_servers", "port is needed"),
    (_set("cluster.bootstrap_servers", "b-1:9098,"), "cluster.bootstrap_servers", "not host:port"),
    (_set("cluster.bootstrap_servers", "b-1:70000"), "cluster.bootstrap_servers", "from 1 to 65535"),
    (_set("cluster.bootstrap_servers", "b-1:0"), "cluster.bootstrap_servers", "from 1 to 65535"),
    (_set("consumers.0.topics", [""]), "consumers.0.topics.0", "not a Kafka topic name"),
    (_set("consumers.0.topics", ["orders", "or ders"]), "consumers.0.topics.1", "not a Kafka topic name"),
    (_set("consumers.0.topics", ["x" * 250]), "consumers.0.topics.0", "1 to 249 characters"),
    (_set("consumers.0.topics", [".."]), "consumers.0.topics.0", "not a legal Kafka topic name"),
    (_set("consumers.0.topics", ["ördres"]), "consumers.0.topics.0", "not a Kafka topic name"),
    (_set("consumers.0.group_id", "   "), "consumers.0.group_id", "must not be blank"),
    (_set("consumers.0.group_id", " orders"), "consumers.0.group_id", "leading or trailing whitespace"),
    (_set("consumers.0.group_type", "queue"), "consumers.0.group_type", "'consumer' or 'share'"),
    (_set("consumers.1.ecs", {"cluster": "orders", "service": "orders-processor"}), "consumers.1.ecs", "scaled by two"),
]


@pytest.mark.parametrize(("change", "path", "words"), HOSTILE, ids=[f"{h[1]}:{h[2][:16]}" for h in HOSTILE])
def test_a_hostile_value_names_the_field(change: Any, path: str, words: str) -> None:
    data = example()
    change(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "hostile.yaml")
    assert any(p.startswith(f"{path}: ") and words in p for p in caught.value.problems), caught.value.problems


def test_the_duplicate_service_test_row_is_the_examples_first_service() -> None:
    first = example()["consumers"][0]["ecs"]
    assert (first["cluster"], first["service"]) == ("orders", "orders-processor"), (
        "HOSTILE's last row copies this service"
    )


BASE_TEXT = EXAMPLE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"cluster:\n  arn: \xff\xfe\n", "not UTF-8 text: byte 0xff at position 16"),
        (("a: " + "[" * 3000 + "]" * 3000 + "\n").encode(), "nest"),  # libyaml: "exceeded maximum nesting depth"
        (("a: " + "{b: " * 30 + "1" + "}" * 30 + "\n").encode(), "a.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b: nested"),
        ((BASE_TEXT + "dry_run: true\n").encode(), "dry_run: duplicate key (again at line"),
        (b"cluster:\n  arn: a\n  arn: b\n", "cluster.arn: duplicate key (again at line 3)"),
        (b"consumers:\n  - group_id: a\n    group_id: b\n", "consumers.0.group_id: duplicate key"),
    ],
    ids=["non-utf8", "deep-flow", "deep-path", "dup-top", "dup-nested", "dup-in-list"],
)
def test_unreadable_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err


# ---------------------------------------------------------------- fuzz
HOSTILE_VALUES: list[object] = [
    None,
    True,
    "",
    "   ",
    "x" * 300,
    "\x00\u202e",
    -1,
    0,
    2**31,
    -(2**63),
    10**30,
    1e308,
    math.inf,
    -math.inf,
    math.nan,
    [],
    {},
    [[[[]]]],
    {"a": {"b": {"c": {}}}},
    "a:b",
    "host:99999",
    ".",
]


def _mutated(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    mutate(rng, data, HOSTILE_VALUES)
    return data


def _outcome(load: Callable[[], AutoscalerConfig]) -> str:
    """'accepted' or 'rejected'; any other exception fails the test with its traceback."""
    try:
        load()
    except ConfigError as error:
        assert error.problems and all(": " in p for p in error.problems), error.problems
        return "rejected"
    return "accepted"


FUZZ_CONFIGS = 1500


def test_fuzzed_configurations_are_accepted_or_rejected_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    rng, base = random.Random(13), example()
    outcomes = {"accepted": 0, "rejected": 0}
    for _ in range(FUZZ_CONFIGS):
        text = yaml.safe_dump(_mutated(rng, base), allow_unicode=True)
        outcomes[_outcome(lambda text=text: parse_config(load_yaml(text), "fuzz.yaml"))] += 1  # type: ignore[misc]
    with capsys.disabled():
        print(f"\nconfig fuzz: {FUZZ_CONFIGS} tried, {outcomes['rejected']} rejected cleanly, {outcomes}")
    assert outcomes["rejected"] > FUZZ_CONFIGS * 0.8, "most hostile values must be refused"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_a_config_or_a_config_error(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "c.yaml"
        target.write_bytes(blob)
        _outcome(lambda: load_config(target))
