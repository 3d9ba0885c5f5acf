"""RateHistory to and from a JSON-ready mapping; each series' numbers as zlib-compressed float32 (base64).

Pure: no I/O. A rate needs no more than float32's seven digits; NaN (a minute not seen)
survives the round trip.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kafka_autoscaler.model import RateHistory, RateSeries

RATES_SCHEMA = 1


class RateCodecError(ValueError):
    """A stored rate history is not in a shape this version reads."""


def pack_floats(values: Sequence[float]) -> str:
    """Little-endian float32, zlib-compressed, base64 text."""
    raw = np.asarray(values, dtype="<f4").tobytes()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack_floats(text: str) -> tuple[float, ...]:
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True))
    except (binascii.Error, zlib.error) as error:
        raise RateCodecError(f"rate history: a series is not base64 zlib float32 ({error})") from error
    if len(raw) % 4:
        raise RateCodecError("rate history: a series' length is not a whole number of float32 values")
    return tuple(float(v) for v in np.frombuffer(raw, dtype="<f4"))


def encode_rate_history(history: RateHistory) -> dict[str, Any]:
    return {
        "schema": RATES_SCHEMA,
        "series": {
            key: {
                "start_t": s.start_t,
                "values": pack_floats(s.values),
                "count": s.count,
                "coarse_start_t": s.coarse_start_t,
                "coarse": pack_floats(s.coarse),
                "periods_min": list(s.periods_min),
                "periods_t": s.periods_t,
            }
            for key, s in history.series.items()
        },
        "lead_times_s": dict(history.lead_times_s),
        "scaled_out_at": dict(history.scaled_out_at),
        "starting_since": dict(history.starting_since),
    }


def decode_rate_history(doc: object) -> RateHistory:
    """The history in a mapping written by `encode_rate_history`; an absent one is empty."""
    if doc is None:
        return RateHistory()
    if not isinstance(doc, Mapping) or doc.get("schema") != RATES_SCHEMA:
        raise RateCodecError(f"rate history: not a schema {RATES_SCHEMA} object")

    def floats(raw: Mapping[str, Any]) -> dict[str, float]:
        return {str(k): float(v) for k, v in raw.items()}

    series = {
        str(key): RateSeries(
            start_t=float(s["start_t"]),
            values=unpack_floats(s["values"]),
            count=int(s["count"]),
            coarse_start_t=float(s["coarse_start_t"]),
            coarse=unpack_floats(s["coarse"]),
            periods_min=tuple(int(p) for p in s.get("periods_min", [])),
            periods_t=None if s.get("periods_t") is None else float(s["periods_t"]),
        )
        for key, s in doc.get("series", {}).items()
    }
    return RateHistory(
        series,
        floats(doc.get("lead_times_s", {})),
        floats(doc.get("scaled_out_at", {})),
        floats(doc.get("starting_since", {})),
    )
