#!/usr/bin/env python3
"""Reads a calendar feed with the icalendar package (an independent parser, as a subscribing
client would) and prints what the tests check, as JSON:
{"method", "name", "events": [{"uid", "sequence", "status", "start", "end", "summary"}]},
instants in UTC as YYYYMMDDTHHMMSSZ. Fails on anything that does not parse, or on an event
without UID, DTSTAMP, DTSTART or DTEND.

Usage: scripts/ics_feed_check.py FILE.ics  (needs `icalendar`: scripts/lib.sh puts it in .venv)
"""

from __future__ import annotations

import json
import sys
from datetime import timezone

from icalendar import Calendar


def main(path: str) -> None:
    with open(path, "rb") as handle:
        calendar = Calendar.from_ical(handle.read())
    events = []
    for event in calendar.walk("VEVENT"):
        for required in ("UID", "DTSTAMP", "DTSTART", "DTEND"):
            if required not in event:
                raise SystemExit(f"{path}: a VEVENT without {required}")

        def instant(name: str) -> str:
            return event.decoded(name).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")

        events.append(
            {
                "uid": str(event["UID"]),
                "sequence": int(event.get("SEQUENCE", -1)),
                "status": str(event.get("STATUS", "")),
                "start": instant("DTSTART"),
                "end": instant("DTEND"),
                "summary": str(event.get("SUMMARY", "")),
            }
        )
    print(
        json.dumps(
            {
                "method": str(calendar.get("METHOD", "")),
                "name": str(calendar.get("X-WR-CALNAME", "")),
                "events": events,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
