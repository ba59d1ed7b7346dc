"""Cron schedules: which minutes a cron expression ticks at, and whether it ticked in a window.

Standard five fields (minute hour day-of-month month day-of-week, with `*`,
lists, ranges, steps and names) or a preset (@hourly, @daily, ...), in UTC.
When both day fields are restricted, either may match, as in cron.

This module uses only the standard library and no other part of meshgen:
the generated Airflow and Dagster files carry a copy of it, so they decide
what is due exactly as `meshgen run` does.
"""

import datetime as _dt
from dataclasses import dataclass

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = {
    "month": ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    "day of week": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}


class CronError(ValueError):
    """A cron expression that is not one."""


@dataclass(frozen=True)
class Cron:
    minutes: tuple
    hours: tuple
    days: frozenset
    months: frozenset
    weekdays: frozenset  # 0 = Sunday
    any_day: bool  # the day-of-month field is `*`
    any_weekday: bool  # the day-of-week field is `*`

    def matches_day(self, day: _dt.datetime) -> bool:
        if day.month not in self.months:
            return False
        by_day, by_weekday = day.day in self.days, (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def ticks(self, after: _dt.datetime, until: _dt.datetime):
        """The ticks t with after < t <= until, in order."""
        day = after.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= until:
            if self.matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        moment = day.replace(hour=hour, minute=minute)
                        if after < moment <= until:
                            yield moment
            day += _dt.timedelta(days=1)


def parse_cron(text: str) -> Cron:
    expression = PRESETS.get(text.strip().lower(), text.strip())
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(
            f"'{text}' is not a cron expression: it needs 5 fields (minute hour day month weekday) or a preset such as @daily"
        )
    values = [_field(field, *spec) for field, spec in zip(fields, _FIELDS)]
    return Cron(
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=frozenset(0 if v == 7 else v for v in values[4]),
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )


def _field(text: str, name: str, low: int, high: int) -> set:
    found = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = _cron_number(step_text, name) if step_text else 1
        if step < 1:
            raise CronError(f"the {name} field has a step of {step}")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first, last = (_cron_number(v, name) for v in body.split("-", 1))
        else:
            first = _cron_number(body, name)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise CronError(f"the {name} field '{text}' is outside {low}-{high}")
        found.update(range(first, last + 1, step))
    return found


def _cron_number(text: str, name: str) -> int:
    names = _NAMES.get(name, [])
    if text in names:
        return names.index(text) + (1 if name == "month" else 0)
    if not text.isdigit():
        raise CronError(f"the {name} field has '{text}', which is not a number")
    return int(text)


def previous_tick(cron: str, at: _dt.datetime) -> _dt.datetime:
    """The schedule's last tick at or before `at` (looked for up to about a year back)."""
    schedule = parse_cron(cron)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(400):
        if schedule.matches_day(day):
            earlier = [day.replace(hour=h, minute=m) for h in schedule.hours for m in schedule.minutes]
            earlier = [moment for moment in earlier if moment <= at]
            if earlier:
                return earlier[-1]
        day -= _dt.timedelta(days=1)
    raise CronError(f"'{cron}' has not ticked in the year before {at:%Y-%m-%d}")


def is_due(cron: str, after: _dt.datetime, until: _dt.datetime) -> bool:
    """Whether the schedule ticks in the window (after, until]: a run at `until` covering it builds the model."""
    return next(parse_cron(cron).ticks(after, until), None) is not None
