"""Schedules: the interval unit of a model, the window a run covers, durations.

Both engines cut a time-range model's history into intervals of one unit
(SQLMesh infers it from the cron: the longest unit no longer than the
shortest gap between two ticks). A run at time T covers the window of the
platform's schedule that ends at its last tick: a model is due when its own
cron ticks inside that window, so a daily model runs once a day even when the
platform runs every hour (see `cron.is_due`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache

from .cron import CronError, is_due, parse_cron, previous_tick

__all__ = ["CronError", "is_due", "interval_unit", "floor", "previous_tick", "run_window", "duration", "intervals_in"]

# SQLMesh's interval units, longest first, each at its shortest length.
UNITS = {
    "year": timedelta(days=365),
    "month": timedelta(days=28),
    "day": timedelta(days=1),
    "hour": timedelta(hours=1),
    "half_hour": timedelta(minutes=30),
    "quarter_hour": timedelta(minutes=15),
    "five_minute": timedelta(minutes=5),
}
_MINUTE_STEPS = {"half_hour": 30, "quarter_hour": 15, "five_minute": 5}
_DURATION = re.compile(r"^([1-9][0-9]*)(s|m|h|d)$")
_SAMPLE_START = datetime(2023, 1, 1)


@lru_cache(maxsize=256)
def interval_unit(cron: str) -> str:
    """The unit a model's intervals are cut into, from its cron."""
    samples = []
    for moment in parse_cron(cron).ticks(_SAMPLE_START, _SAMPLE_START + timedelta(days=800)):
        samples.append(moment)
        if len(samples) == 6:
            break
    gap = min((b - a for a, b in zip(samples, samples[1:])), default=UNITS["year"])
    for unit, length in UNITS.items():
        if length <= gap:
            return unit
    raise CronError(f"'{cron}' runs more often than every 5 minutes, the shortest interval both engines know")


def floor(moment: datetime, unit: str) -> datetime:
    """The start of the interval of `unit` that holds `moment`."""
    moment = moment.replace(second=0, microsecond=0)
    if unit == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0)
    if unit == "month":
        return moment.replace(day=1, hour=0, minute=0)
    if unit == "day":
        return moment.replace(hour=0, minute=0)
    if unit == "hour":
        return moment.replace(minute=0)
    return moment.replace(minute=moment.minute - moment.minute % _MINUTE_STEPS[unit])


def run_window(cron: str, at: datetime) -> tuple[datetime, datetime]:
    """The window a run at `at` on this schedule covers: (the tick before the last, the last tick]."""
    last = previous_tick(cron, at)
    return previous_tick(cron, last - timedelta(minutes=1)), last


def duration(text: str) -> timedelta:
    """`30m`, `6h`, `2d` (and `30s` where the schema allows seconds) as a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def intervals_in(span: timedelta, unit: str) -> int:
    """How many intervals of `unit` cover `span` (rounded up)."""
    return -(-span // UNITS[unit])
