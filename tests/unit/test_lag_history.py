"""Offset histories in columns: the same samples as the per-series rule, pruning, compaction."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.lag.history import (
    COMPACT_MIN_DEAD_ROWS,
    Column,
    SampleTable,
    append_sample,
    group_of_commit,
    record_offsets,
    topic_of_partition,
)
from kafka_autoscaler.model import OffsetSample as S

KEYS = [f"t{p % 3}:{p}" for p in range(8)]
# One tick: how far the clock moved, and per key None (not read) or how far its offset moved (negative: recreated).
ticks = st.lists(
    st.tuples(
        st.sampled_from([60.0, 60.0, 30.0, 300.0, 0.0, -45.0, 4000.0]),
        st.lists(st.none() | st.integers(-3, 500), min_size=len(KEYS), max_size=len(KEYS)),
    ),
    min_size=1,
    max_size=60,
)
starts = st.dictionaries(
    st.sampled_from(KEYS), st.lists(st.builds(S, st.floats(0, 3000), st.integers(0, 10**6)), max_size=5).map(tuple)
)


@settings(max_examples=80, deadline=None)
@given(starts, ticks, st.sampled_from([(3600.0, 12), (6 * 3600.0, 48), (900.0, 5)]))
def test_appended_keeps_exactly_what_the_per_series_rule_keeps(
    start: dict[str, tuple[S, ...]], steps: list[tuple[float, list[int | None]]], retention: tuple[float, int]
) -> None:
    max_age, max_count = retention
    table, reference = SampleTable.of(start), dict(start)
    offsets = dict.fromkeys(KEYS, 10**6)
    now = 3000.0
    for step, moves in steps:
        now += step
        samples = {}
        for key, move in zip(KEYS, moves, strict=True):
            if move is not None:
                offsets[key] = max(0, offsets[key] + move) if move >= 0 else 0
                samples[key] = S(now, offsets[key])
        table = table.appended(samples, now, max_age, max_count, topic_of_partition)
        for key, sample in samples.items():
            reference[key] = append_sample(reference.get(key, ()), sample, now, max_age, max_count)
        # A series not read keeps what is within the age, and goes when nothing is (the old
        # store kept it unchanged forever; the next sample's age filter dropped the same samples).
        for key in [k for k in reference if k not in samples]:
            reference[key] = tuple(s for s in reference[key] if s.t >= now - max_age)
            if not reference[key]:
                del reference[key]
        assert table == reference
    named = {c for row, key in enumerate(table.keys_by_row) if key is not None for c in table.pattern_of(row)}
    assert named == set(range(len(table.columns)))  # no column that no series names


def test_one_pattern_per_tick_shape_not_per_series() -> None:
    table = SampleTable.of({})
    for i in range(100):
        table = table.appended({f"t:{p}": S(60.0 * i, 10 * i + p) for p in range(1000)}, 60.0 * i, 6 * 3600, 48, str)
    assert len(table.patterns) == 1 and len(table.columns) == max(len(s) for s in table.values()) <= 48
    assert all(len(c.values) == 1000 for c in table.columns)


def test_a_partition_missing_from_a_topic_read_in_full_is_pruned_at_once() -> None:
    table = SampleTable.of({}).appended({"a:0": S(0, 1), "a:1": S(0, 1), "b:0": S(0, 1)}, 0, 3600, 12, str)
    table = table.appended({"a:0": S(60, 2)}, 60, 3600, 12, topic_of_partition, {"a"})
    assert set(table) == {"a:0", "b:0"}  # b was not read: kept, as missing data
    assert table.keys_by_row == ("a:0", None, "b:0")  # rows keep their positions


def test_a_group_read_in_full_loses_commits_it_no_longer_has() -> None:
    _, commits = record_offsets(
        {},
        {"g|a:0": (S(0, 1),), "g|a:1": (S(0, 1),), "h|a:0": (S(0, 1),)},
        {"a:0": S(60, 5)},
        {"g|a:0": S(60, 2)},
        {"g"},
        60,
    )
    assert set(commits) == {"g|a:0", "h|a:0"}
    assert group_of_commit("team|x|a:0") == "team|x"


def test_series_not_read_for_longer_than_their_age_are_pruned() -> None:
    end, commits = record_offsets({}, {}, {"a:0": S(0, 1)}, {"g|a:0": S(0, 1)}, (), 0)
    end, commits = record_offsets(end, commits, {"b:0": S(3601, 1)}, {}, (), 3601)
    assert set(end) == {"a:0", "b:0"} and set(commits) == set()  # commits keep an hour, end offsets six
    end, _ = record_offsets(end, commits, {"b:0": S(6 * 3600 + 1, 1)}, {}, (), 6 * 3600 + 1)
    assert set(end) == {"b:0"}


def test_dead_rows_are_compacted_once_they_are_the_majority() -> None:
    count = 2 * COMPACT_MIN_DEAD_ROWS + 10
    table = SampleTable.of({}).appended({f"a:{p}": S(0, p) for p in range(count)}, 0, 3600, 12, str)
    half = {f"a:{p}": S(60, p + 1) for p in range(0, count, 2)}
    table = table.appended(half, 60, 3600, 12, topic_of_partition, {"a"})
    assert len(table.keys_by_row) == count  # half dead: not yet the majority
    fewer = {f"a:{p}": S(120, p + 2) for p in range(0, count, 4)}
    table = table.appended(fewer, 120, 3600, 12, topic_of_partition, {"a"})
    assert table.keys_by_row == tuple(fewer)
    assert dict(table) == {k: (S(0, s.offset - 2), S(60, s.offset - 1), s) for k, s in fewer.items()}


def test_a_table_built_from_any_series_reads_them_back_exactly() -> None:
    series = {"t:0": (S(5.0, 9), S(5.0, 3), S(1.0, 4)), "t:1": (), "g|t:0": (S(1.0, 4),)}
    table = SampleTable.of(series)
    assert table == series and not table.monotonic
    assert SampleTable.of(table) is table


@pytest.mark.parametrize(
    ("build", "mentions"),
    [
        (lambda: SampleTable(["a"], [], [()], array("I"), next_uid=0, monotonic=True), "1 rows but 0"),
        (lambda: SampleTable(["a"], [], [()], array("I", [1]), next_uid=0, monotonic=True), "pattern 1 of 1"),
        (lambda: SampleTable(["a"], [], [(0,)], array("I", [0]), next_uid=0, monotonic=True), "column 0 of 0"),
        (
            lambda: SampleTable(
                ["a"], [Column(0, 1.0, array("q"))], [(0,)], array("I", [0]), next_uid=1, monotonic=True
            ),
            "shorter than its rows",
        ),
        (
            lambda: SampleTable(
                ["a"], [Column(3, 1.0, array("q", [1]))], [(0,)], array("I", [0]), next_uid=1, monotonic=True
            ),
            "not below next_uid",
        ),
        (lambda: SampleTable(["a", "a"], [], [()], array("I", [0, 0]), next_uid=0, monotonic=True), "two rows"),
    ],
)
def test_a_table_whose_parts_do_not_fit_is_refused(build: object, mentions: str) -> None:
    with pytest.raises(ValueError, match=mentions):
        build()  # type: ignore[operator]
