#!/usr/bin/env python3
"""Reads .ics files with the icalendar package (an independent parser, not the one that wrote
them) and prints what the tests check of each, as one JSON list:
[{"method", "uid", "sequence", "status", "start", "end", "summary", "description"}], instants
in UTC as YYYYMMDDTHHMMSSZ. Fails on anything that does not parse as exactly one VEVENT.

Usage: scripts/ics_check.py FILE.ics ...  (needs `icalendar`: scripts/lib.sh puts it in .venv)
"""

from __future__ import annotations

import json
import sys
from datetime import timezone

from icalendar import Calendar


def read(path: str) -> dict:
    with open(path, "rb") as handle:
        calendar = Calendar.from_ical(handle.read())
    events = [c for c in calendar.walk() if c.name == "VEVENT"]
    if len(events) != 1:
        raise SystemExit(f"{path}: {len(events)} VEVENTs, expected one")
    event = events[0]

    def instant(name: str) -> str:
        value = event.decoded(name)
        return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    return {
        "method": str(calendar.get("METHOD", "")),
        "uid": str(event.get("UID", "")),
        "sequence": int(event.get("SEQUENCE", -1)),
        "status": str(event.get("STATUS", "")),
        "start": instant("DTSTART"),
        "end": instant("DTEND"),
        "summary": str(event.get("SUMMARY", "")),
        "description": str(event.get("DESCRIPTION", "")),
    }


if __name__ == "__main__":
    print(json.dumps([read(path) for path in sys.argv[1:]]))
