"""Bounded history of (time, offset) samples per partition, kept in columns.

Every series sampled in one tick is sampled at the same moment, so a `SampleTable` keeps
one column per moment (its time and one array of offsets, a value per row) and, per row,
which columns hold its samples: a "pattern", shared by nearly every row. A row is read
as a tuple of OffsetSamples made when it is read; nothing keeps an object per sample.

The retention rule is per series, as `append_sample` states it; `SampleTable.appended`
applies exactly that rule to every row at once (one computation per distinct pattern).
Rows are only ever added at the end or marked dead (pruned), so a row keeps its position
until the table is compacted; the DynamoDB store writes each column once.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from kafka_autoscaler.model import OffsetSample

# End-offset samples are the table time lag is interpolated on: they must reach back as
# far as the oldest committed offset a person cares about, dense where rates are read.
END_OFFSET_MAX_AGE_S = 6 * 3600.0
END_OFFSET_MAX_SAMPLES = 48
COMMIT_MAX_AGE_S = 3600.0
COMMIT_MAX_SAMPLES = 12
# Dead rows are compacted away once they outnumber the live ones (and are this many):
# compaction moves rows, so the store writes every column again.
COMPACT_MIN_DEAD_ROWS = 1024

T = TypeVar("T")
Row = tuple[OffsetSample, ...]
_make_sample = tuple.__new__  # an OffsetSample from (t, offset) without the named tuple's Python-level __new__


def thin(samples: list[T], max_count: int) -> list[T]:
    """Drop every other sample from the older half until at most max_count remain.

    Recent samples stay dense (rates need them); old ones get sparse (time lag only
    needs the shape of the curve there).
    """
    while len(samples) > max_count:
        half = len(samples) // 2
        older = samples[:half:2] if half > 1 else samples[:0]
        samples = older + samples[half:]
    return samples


def append_sample(
    history: Sequence[OffsetSample], sample: OffsetSample, now: float, max_age_s: float, max_count: int
) -> tuple[OffsetSample, ...]:
    """The retention rule for one series: history with the sample appended, old and surplus samples dropped.

    A sample older than the newest kept one (a clock step back) replaces nothing.
    """
    # Offsets never go backwards for the same partition; a higher one means the topic was recreated.
    kept = [s for s in history if now - max_age_s <= s.t < sample.t and s.offset <= sample.offset]
    return tuple(thin([*kept, sample], max_count))


def topic_of_partition(key: str) -> str:
    """The topic of an end-offset key "topic:partition"."""
    return key.rpartition(":")[0]


def group_of_commit(key: str) -> str:
    """The group of a commit key "group|topic:partition" (topic names hold no '|'; group ids may)."""
    return key.rpartition("|")[0]


@dataclass(frozen=True, eq=False)
class Column:
    """The offsets of one moment: `values[row]` for the rows whose pattern names this column.

    `uid` is unique within a table and its descendants (the store's name for the column);
    rows added after the column was taken lie past the end of `values` and never name it.
    """

    uid: int
    t: float
    values: array[int]  # typecode "q"


class SampleTable(Mapping[str, Row]):
    """Offset histories by key, in columns. Immutable: `appended` returns a new table sharing columns.

    `keys[row]` is None for a dead row; `patterns[row_pattern[row]]` are the positions in
    `columns` of the row's samples, oldest first.
    """

    __slots__ = ("_cells", "_columns", "_keys", "_monotonic", "_next_uid", "_patterns", "_row_pattern", "_rows")

    def __init__(
        self,
        keys: Sequence[str | None],
        columns: Sequence[Column],
        patterns: Sequence[tuple[int, ...]],
        row_pattern: array[int],
        *,
        next_uid: int,
        monotonic: bool,
    ) -> None:
        if len(row_pattern) != len(keys):
            raise ValueError(f"sample table: {len(keys)} rows but {len(row_pattern)} row patterns")
        named = np.frombuffer(row_pattern, dtype=np.uint32)
        if named.size and int(named.max()) >= len(patterns):
            row = int(np.argmax(named >= len(patterns)))
            raise ValueError(f"sample table: row {row} names pattern {named[row]} of {len(patterns)}")
        last_row = [-1] * len(patterns)
        newest_first, first_seen = np.unique(named[::-1], return_index=True)
        for pattern, seen in zip(newest_first.tolist(), first_seen.tolist(), strict=True):
            last_row[pattern] = named.size - 1 - seen
        for index, pattern_columns in enumerate(patterns):
            for position in pattern_columns:
                if not 0 <= position < len(columns):
                    raise ValueError(f"sample table: pattern {index} names column {position} of {len(columns)}")
                if last_row[index] >= len(columns[position].values):
                    raise ValueError(f"sample table: column {columns[position].uid} is shorter than its rows")
        if any(uid >= next_uid for uid in (c.uid for c in columns)):
            raise ValueError("sample table: a column uid is not below next_uid")
        self._keys = tuple(keys)
        self._rows = {key: row for row, key in enumerate(keys) if key is not None}
        if len(self._rows) != sum(key is not None for key in keys):
            raise ValueError("sample table: a key names two rows")
        self._columns = tuple(columns)
        self._patterns = tuple(patterns)
        self._row_pattern = row_pattern
        self._next_uid = next_uid
        self._monotonic = monotonic
        # Per pattern, the (time, values) of its columns: what reading a row needs, looked up once.
        self._cells = tuple(tuple((self._columns[c].t, self._columns[c].values) for c in p) for p in self._patterns)

    # ------------------------------------------------------------ reading
    def __getitem__(self, key: str) -> Row:
        return self.samples(self._rows[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __repr__(self) -> str:
        return f"SampleTable({len(self._rows)} series, {len(self._columns)} columns)"

    def samples(self, row: int) -> Row:
        return tuple(
            [_make_sample(OffsetSample, (t, values[row])) for t, values in self._cells[self._row_pattern[row]]]
        )

    def pattern_of(self, row: int) -> tuple[int, ...]:
        return self._patterns[self._row_pattern[row]]

    def row_of(self, key: str) -> int | None:
        return self._rows.get(key)

    def pattern_index(self, row: int) -> int:
        """Which pattern the row's samples follow: rows with the same index were sampled at the same moments."""
        return self._row_pattern[row]

    def block(self, pattern: int, rows: Sequence[int]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """The samples of rows that follow one pattern: times (k,) and offsets (k, len(rows)), oldest column first."""
        cells = self._cells[pattern]
        picked = np.asarray(rows, dtype=np.intp)
        times = np.array([t for t, _ in cells], dtype=np.float64)
        values = np.empty((len(cells), len(picked)), dtype=np.int64)
        for index, (_, column) in enumerate(cells):
            values[index] = np.frombuffer(column, dtype=np.int64)[picked]
        return times, values

    @property
    def keys_by_row(self) -> tuple[str | None, ...]:
        return self._keys

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    @property
    def patterns(self) -> tuple[tuple[int, ...], ...]:
        return self._patterns

    @property
    def row_pattern(self) -> array[int]:
        return self._row_pattern

    @property
    def next_uid(self) -> int:
        return self._next_uid

    @property
    def monotonic(self) -> bool:
        """Every row's samples rise in time and never fall in offset (true of every table `appended` built)."""
        return self._monotonic

    # ------------------------------------------------------------ building
    @classmethod
    def of(cls, series: Mapping[str, Sequence[OffsetSample]]) -> SampleTable:
        """The table holding exactly these series (any order, repeated times); a table is returned as is."""
        if isinstance(series, SampleTable):
            return series
        keys = list(series)
        positions: dict[tuple[float, int], int] = {}
        cells: list[dict[int, int]] = []
        interned: dict[tuple[int, ...], int] = {}
        row_pattern = array("I")
        monotonic = True
        for row, key in enumerate(keys):
            seen: dict[float, int] = {}
            pattern: list[int] = []
            previous: OffsetSample | None = None
            for sample in series[key]:
                occurrence = seen.get(sample.t, 0)
                seen[sample.t] = occurrence + 1
                position = positions.setdefault((float(sample.t), occurrence), len(positions))
                if position == len(cells):
                    cells.append({})
                cells[position][row] = int(sample.offset)
                pattern.append(position)
                if previous is not None and (sample.t <= previous.t or sample.offset < previous.offset):
                    monotonic = False
                previous = sample
            row_pattern.append(interned.setdefault(tuple(pattern), len(interned)))
        columns = [
            Column(position, t, array("q", [cells[position].get(row, 0) for row in range(len(keys))]))
            for (t, _), position in positions.items()
        ]
        return cls(keys, columns, list(interned), row_pattern, next_uid=len(columns), monotonic=monotonic)

    def appended(
        self,
        samples: Mapping[str, OffsetSample],
        now: float,
        max_age_s: float,
        max_count: int,
        scope_of: Callable[[str], str],
        complete: Collection[str] = (),
    ) -> SampleTable:
        """The table after one tick: every row of `samples` under `append_sample`'s rule, the others aged.

        A row without a new sample keeps its samples within max_age_s of now; it is pruned
        when none are left, or at once when its scope (topic or group) is in `complete`,
        that is read in full this tick without it (the partition or commit no longer exists).
        """
        keys: list[str | None] = list(self._keys)
        rows = self._rows
        fresh = [key for key in samples if key not in rows]
        if fresh:
            rows = dict(rows)
            for key in fresh:
                rows[key] = len(keys)
                keys.append(key)
        count = len(keys)
        columns = list(self._columns)
        new_column: dict[float, int] = {}
        uid = self._next_uid
        for t in sorted({s.t for s in samples.values()}):
            new_column[t] = len(columns)
            columns.append(Column(uid, float(t), array("q", bytes(8 * count))))
            uid += 1
        old_patterns = [*self._patterns, ()]
        old_row_pattern = array("I", self._row_pattern)
        old_row_pattern.extend([len(old_patterns) - 1] * (count - len(old_row_pattern)))

        interned: dict[tuple[int, ...], int] = {}
        row_pattern = array("I", bytes(4 * count))
        patterns_out = np.frombuffer(row_pattern, dtype=np.uint32)
        old_patterns_in = np.frombuffer(old_row_pattern, dtype=np.uint32)
        updated = np.zeros(count, dtype=bool)
        cut = now - max_age_s
        sampled = list(samples.values())
        sample_rows = np.fromiter((rows[key] for key in samples), dtype=np.intp, count=len(sampled))
        sample_values = np.fromiter((int(s.offset) for s in sampled), dtype=np.int64, count=len(sampled))
        sample_times = np.fromiter((float(s.t) for s in sampled), dtype=np.float64, count=len(sampled))
        for t, position in new_column.items():
            at_t = sample_times == t
            picked, values = sample_rows[at_t], sample_values[at_t]
            np.frombuffer(columns[position].values, dtype=np.int64)[picked] = values
            updated[picked] = True
            old = old_patterns_in[picked]
            for pattern in np.unique(old).tolist():
                same = old == pattern
                members, offsets = picked[same], values[same]
                cells = old_patterns[pattern]
                if self._monotonic and cells:
                    # Every kept offset is at most the new one: the rule depends on the pattern alone.
                    rising = np.frombuffer(columns[cells[-1]].values, dtype=np.int64)[members] <= offsets
                elif self._monotonic:
                    rising = np.ones(members.size, dtype=bool)
                else:
                    rising = np.zeros(members.size, dtype=bool)
                if rising.any():
                    kept = [c for c in cells if cut <= columns[c].t < t]
                    patterns_out[members[rising]] = interned.setdefault(
                        tuple(thin([*kept, position], max_count)), len(interned)
                    )
                for row, value in zip(members[~rising].tolist(), offsets[~rising].tolist(), strict=True):
                    kept = [c for c in cells if cut <= columns[c].t < t and columns[c].values[row] <= value]
                    patterns_out[row] = interned.setdefault(tuple(thin([*kept, position], max_count)), len(interned))

        aged: dict[int, int] = {}
        empty = interned.setdefault((), len(interned))
        pruned: list[int] = []
        for row in np.flatnonzero(~updated).tolist():
            row_key = keys[row]
            if row_key is None:
                patterns_out[row] = empty
                continue
            pattern = old_row_pattern[row]
            index = aged.get(pattern)
            if index is None:
                kept_pattern = tuple(c for c in old_patterns[pattern] if columns[c].t >= cut)
                index = aged[pattern] = interned.setdefault(kept_pattern, len(interned))
            if index == empty or (complete and scope_of(row_key) in complete):
                index = empty
                pruned.append(row)
            patterns_out[row] = index
        if pruned:
            rows = dict(rows)
            for row in pruned:
                del rows[keys[row]]  # type: ignore[arg-type]
                keys[row] = None
        same_rows = not fresh and not pruned  # then the keys are the very same tuple: the store knows it
        return _compacted(self._keys if same_rows else keys, columns, list(interned), row_pattern, uid, self._monotonic)


def _compacted(
    keys: Sequence[str | None],
    columns: list[Column],
    patterns: list[tuple[int, ...]],
    row_pattern: array[int],
    next_uid: int,
    monotonic: bool,
) -> SampleTable:
    """The table without columns no row names, and without dead rows once they are the majority."""
    named = np.frombuffer(row_pattern, dtype=np.uint32)
    used, renumbered = np.unique(named, return_inverse=True)
    used_patterns = used.tolist()
    used_columns = sorted({c for p in used_patterns for c in patterns[p]})
    column_at = {old: new for new, old in enumerate(used_columns)}
    new_patterns = [tuple(column_at[c] for c in patterns[p]) for p in used_patterns]
    new_row_pattern = array("I", renumbered.astype(np.uint32).tobytes())
    kept_columns = [columns[c] for c in used_columns]
    dead = sum(key is None for key in keys)
    if dead >= COMPACT_MIN_DEAD_ROWS and dead > len(keys) - dead:
        live = [row for row, key in enumerate(keys) if key is not None]
        kept_columns = [Column(c.uid, c.t, _gather(c.values, live)) for c in kept_columns]
        new_row_pattern = _gather(new_row_pattern, live, "I")
        keys = [keys[row] for row in live]
    return SampleTable(keys, kept_columns, new_patterns, new_row_pattern, next_uid=next_uid, monotonic=monotonic)


def _gather(values: array[int], rows: list[int], typecode: str = "q") -> array[int]:
    """values at the given rows, dropping rows past its end (they are newer than the column)."""
    within = [row for row in rows if row < len(values)]
    if not within:
        return array(typecode)
    picked = operator.itemgetter(*within)(values)
    return array(typecode, picked if isinstance(picked, tuple) else (picked,))


def record_offsets(
    end_offsets: Mapping[str, Sequence[OffsetSample]],
    commits: Mapping[str, Sequence[OffsetSample]],
    end_samples: Mapping[str, OffsetSample],
    commit_samples: Mapping[str, OffsetSample],
    complete_groups: Collection[str],
    now: float,
) -> tuple[SampleTable, SampleTable]:
    """This tick's end-offset and commit samples added to the histories, under the retention above.

    Every topic with an end-offset sample was read in full (all its partitions), and so was
    every group in `complete_groups`: their series without a sample now are pruned at once.
    """
    read_topics = {topic_of_partition(key) for key in end_samples}
    return (
        SampleTable.of(end_offsets).appended(
            end_samples, now, END_OFFSET_MAX_AGE_S, END_OFFSET_MAX_SAMPLES, topic_of_partition, read_topics
        ),
        SampleTable.of(commits).appended(
            commit_samples, now, COMMIT_MAX_AGE_S, COMMIT_MAX_SAMPLES, group_of_commit, frozenset(complete_groups)
        ),
    )
