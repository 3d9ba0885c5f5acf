"""No partition moves while the brokers are busy.

AWS advises against reassigning partitions while broker CPU (user + system) is above
70%: the copies add load exactly where there is none to spare.
"""

from __future__ import annotations

from collections.abc import Callable

CpuProbe = Callable[[], float | None]  # mean broker CPU % now, None when unknown

DEFAULT_MAX_CPU_PCT = 70.0


def cpu_refusal(cpu_pct: float | None, limit_pct: float = DEFAULT_MAX_CPU_PCT) -> str | None:
    """A sentence saying why no move may start, or None when moves may start.

    Unknown CPU does not block: the scaler only asks for a rebalance after reading it.

    >>> cpu_refusal(82.5)
    'broker CPU is 82.5%, above the 70% limit for moving partitions (AWS advice); no new moves start'
    """
    if cpu_pct is None or cpu_pct <= limit_pct:
        return None
    return (
        f"broker CPU is {cpu_pct:.1f}%, above the {limit_pct:.0f}% limit for moving partitions "
        "(AWS advice); no new moves start"
    )
