#!/usr/bin/env python3
"""The reliability suite: booking promises proven through HTTP against the running local stack.

Run it through scripts/reliability/run (or scripts/test, via scripts/test.d/60-reliability.sh),
which starts Postgres, `cargo lambda watch` and loads the tenants; this file only talks HTTP to
the stack, SQL to the database (psql) and HTTP to moto, all on 127.0.0.1.

Phases (each can be picked with --only):
  storms      bursts of 50-100 simultaneous bookings at capacity-1 and capacity-3 slots, exact and
              overlapping starts, several services, public and owner-entered jobs mixed;
              afterwards no instant holds more active jobs than capacity (checked in SQL)
  idempotency one Idempotency-Key sent 50 times at once: one job, the rest replay or 409
  races       confirm against decline on the same pending jobs: exactly one wins each
  hostile     SQL metacharacters and unicode stored verbatim (format characters refused), 1 MB bodies, deep JSON, wrong
              content types, header injection in names (checked in the raw mails), bad keys
  auth        forged, expired, alg-none, wrong-secret tokens: 401; other tenant's token: 404
  ratelimit   a second stack with the deployed booking limit: 45 at once, exactly 20 pass, 429s
  dbfaults    pg_terminate_backend during bursts: 503 or success, never 500 or a partial
              write; the next requests succeed without restarting anything
  sesfaults   moto stopped during a burst: bookings still 201; moto back, the relay delivers
              every mail exactly once (moto's store and the emails table agree)
  schemathesis  the OpenAPI contract fuzzed against the stack: no 5xx, no schema violation
  logs        the functions' logs of the whole run hold no client address in clear

Environment (set by the runner): RELIABILITY_API, DATABASE_URL, MOTO_URL, RELIABILITY_RUN_DIR,
RELIABILITY_MOTO_PIDFILE, RELIABILITY_WATCH_LOGS, RELIABILITY_LIMITED_API, AUTH_JWT_SECRET, SES_FROM_ADDRESS,
BOOKING_LONG_TESTS (more bursts and examples).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import email
import email.header
import email.policy
import email.utils
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
API = os.environ.get("RELIABILITY_API", "http://127.0.0.1:9470")
API_HOST, API_PORT = urllib.parse.urlsplit(API).hostname, urllib.parse.urlsplit(API).port
DB = os.environ.get("DATABASE_URL", "")
MOTO = os.environ.get("MOTO_URL", "")
RUN_DIR = Path(os.environ.get("RELIABILITY_RUN_DIR", "/tmp/reliability"))
MOTO_PIDFILE = Path(os.environ.get("RELIABILITY_MOTO_PIDFILE", RUN_DIR / "moto.pid"))
WATCH_LOGS = [Path(p) for p in os.environ.get("RELIABILITY_WATCH_LOGS", str(RUN_DIR / "watch.log")).split()]
LIMITED = urllib.parse.urlsplit(os.environ.get("RELIABILITY_LIMITED_API", ""))
SECRET = os.environ.get("AUTH_JWT_SECRET", "")
SENDER = os.environ.get("SES_FROM_ADDRESS", "bookings@reliability.example")
LONG = os.environ.get("BOOKING_LONG_TESTS", "") not in ("", "0", "false")
ACTIVE = "('pending-confirmation', 'scheduled', 'in-progress')"
# Every client address the suite invents ends in one of these domains (the log check looks for
# them, and the mail checks tell client mails from owner mails by them).
CLIENT_DOMAIN = "clients.reliability.example"
SEED = int(os.environ.get("RELIABILITY_SEED", str(int(time.time()))))
rng = random.Random(SEED)


# --- bookkeeping ---------------------------------------------------------------------------------


@dataclass
class Figures:
    requests: int = 0  # every HTTP request sent to the stack
    bookings: int = 0  # of which POST .../book
    overbookings: int = 0  # the most active jobs beyond capacity at any instant, any tenant
    kills: int = 0  # pg_terminate_backend rounds
    backends_killed: int = 0
    answered_503: int = 0
    moto_outages: int = 0
    mails_checked: int = 0
    duplicate_mails: int = 0
    schemathesis_cases: int = 0
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # findings that do not fail the run
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, booking: bool) -> None:
        with self.lock:
            self.requests += 1
            if booking:
                self.bookings += 1


FIG = Figures()
PHASE = ["setup"]


def log(message: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {message}", flush=True)


def check(condition: bool, message: str) -> bool:
    """Records a failed expectation (the run goes on, and fails at the end)."""
    if not condition:
        FIG.failures.append(f"{PHASE[0]}: {message}")
        print(f"  FAIL {PHASE[0]}: {message}", flush=True)
    return condition


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    body: object = None  # dict/list → JSON; bytes/str → sent as is
    headers: dict = field(default_factory=dict)
    tag: object = None  # anything the caller wants back with the answer


@dataclass
class Resp:
    req: Req
    status: int
    headers: dict
    raw: bytes
    seconds: float

    @property
    def json(self):
        try:
            return json.loads(self.raw)
        except ValueError:
            return None

    @property
    def code(self) -> str | None:
        body = self.json
        return body.get("code") if isinstance(body, dict) else None

    def brief(self) -> str:
        text = self.raw[:300].decode("utf-8", "replace")
        start = f" start={self.req.body.get('start')}" if isinstance(self.req.body, dict) and "start" in self.req.body else ""
        return f"{self.req.method} {self.req.path[:80]}{start} → {self.status} {text}"


def _encode(req: Req) -> tuple[bytes | None, dict]:
    headers = {"connection": "close", **{k.lower(): v for k, v in req.headers.items()}}
    if req.body is None:
        return None, headers
    if isinstance(req.body, (bytes, bytearray)):
        return bytes(req.body), headers
    if isinstance(req.body, str):
        return req.body.encode(), headers
    headers.setdefault("content-type", "application/json")
    return json.dumps(req.body, ensure_ascii=False).encode(), headers


def send(req: Req, conn: http.client.HTTPConnection | None = None, timeout: float = 120) -> Resp:
    """Sends one request on a fresh connection (or `conn`) and reads the whole answer."""
    body, headers = _encode(req)
    FIG.count(req.path.endswith("/book") and req.method == "POST")
    conn = conn or http.client.HTTPConnection(API_HOST, API_PORT, timeout=timeout)
    started = time.monotonic()
    try:
        conn.putrequest(req.method, req.path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        raw = answer.read()
        return Resp(req, answer.status, {k.lower(): v for k, v in answer.getheaders()}, raw,
                    time.monotonic() - started)
    except (OSError, http.client.HTTPException) as error:
        return Resp(req, 0, {}, f"transport error: {error!r}".encode(), time.monotonic() - started)
    finally:
        conn.close()


def burst(reqs: list[Req], during=None) -> list[Resp]:
    """Sends every request at once: one thread and one connection each, released together by a
    barrier once all are connected. `during(started_event)` runs alongside (fault injection)."""
    if not reqs:
        return []
    barrier = threading.Barrier(len(reqs) + (1 if during else 0))

    def one(req: Req) -> Resp:
        conn = http.client.HTTPConnection(API_HOST, API_PORT, timeout=120)
        try:
            conn.connect()
        except OSError:
            pass  # send() reports the failure
        barrier.wait()
        return send(req, conn)

    with ThreadPoolExecutor(max_workers=len(reqs) + 1) as pool:
        side = None
        if during:
            def run_during():
                barrier.wait()
                return during()
            side = pool.submit(run_during)
        results = list(pool.map(one, reqs))
        if side:
            side.result()
    return results


def get(path: str, **headers) -> Resp:
    return send(Req("GET", path, headers=headers))


def post(path: str, body=None, **headers) -> Resp:
    return send(Req("POST", path, body, headers={k.replace("_", "-"): v for k, v in headers.items()}))


# --- database (psql) -----------------------------------------------------------------------------


def sql(query: str) -> str:
    out = subprocess.run(["psql", DB, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}\n{query}")
    return out.stdout.strip()


def rows(query: str) -> list[dict]:
    text = sql(f"SELECT coalesce(json_agg(t), '[]'::json) FROM ({query}) t")
    return json.loads(text)


def scalar(query: str):
    text = sql(f"SELECT to_json(({query}))")
    return json.loads(text) if text else None


def lit(text: str) -> str:
    """A SQL string literal (the suite builds queries only from its own values)."""
    return "'" + text.replace("'", "''") + "'"


# --- tenants, tokens, time -----------------------------------------------------------------------


@dataclass
class Tenant:
    key: str
    slug: str
    id: str
    zone: ZoneInfo
    capacity: int
    interval: int
    gap: int  # max(bufferBefore, bufferAfter)
    confirm: bool
    min_day: int  # first day offset that is always bookable
    max_day: int
    hours: tuple[int, int]
    services: dict  # slug → {"id", "duration"}
    token: str
    next_window: int = 0

    def window(self) -> tuple[dt.date, int]:
        """A fresh part of the calendar: (local date, region 0-3 of that day's hours)."""
        k = self.next_window
        self.next_window += 1
        day = self.min_day + k // 4
        if day > self.max_day:
            raise RuntimeError(f"{self.slug}: out of calendar windows")
        return dt.datetime.now(self.zone).date() + dt.timedelta(days=day), k % 4

    def service(self, slug: str) -> str:
        return self.services[slug]["id"]


def load_tenant(key: str) -> Tenant:
    definition = json.loads((HERE / f"tenant-{key}.json").read_text())
    loaded = json.loads((RUN_DIR / f"tenant-{key}.json").read_text())
    settings = definition["settings"]
    services = {s["slug"]: {"id": loaded["services"][s["slug"]], "duration": s["durationMinutes"],
                            "active": s["active"]} for s in definition["services"]}
    hours = [tuple(int(t[:2]) for t in iv) for day in definition["workingHours"].values() for iv in day]
    return Tenant(
        key=key, slug=definition["slug"], id=loaded["tenantId"], zone=ZoneInfo(definition["timeZone"]),
        capacity=settings["maxBookingsPerSlot"], interval=settings["slotIntervalMinutes"],
        gap=max(settings["bufferBeforeMinutes"], settings["bufferAfterMinutes"]),
        confirm=settings["requireConfirmation"],
        min_day=1 if settings["allowSameDay"] else 2, max_day=settings["maxAdvanceDays"] - 2,
        hours=(min(h[0] for h in hours), max(h[1] for h in hours)), services=services,
        token=(RUN_DIR / f"token-{key}.txt").read_text().strip())


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict, secret: str | None = None, alg: str = "HS256", header: dict | None = None) -> str:
    secret = SECRET if secret is None else secret
    head = header or {"alg": alg, "typ": "JWT"}
    signing = b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(claims).encode())
    if alg == "none":
        return signing + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return signing + "." + b64u(hmac.new(secret.encode(), signing.encode(), digest).digest())


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def parse_instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def slots(tenant: Tenant, service: str, day: dt.date, to: dt.date | None = None) -> list[dict]:
    r = get(f"/services/{tenant.service(service)}/availability?from={day}&to={to or day}")
    if not check(r.status == 200, f"availability answered {r.brief()}"):
        return []
    return [s for s in r.json["slots"] if s["remaining"] > 0]


def region_slots(tenant: Tenant, service: str, day: dt.date, region: int) -> list[dict]:
    """The offered starts of `service` in one quarter of the day's opening hours."""
    first, last = tenant.hours
    span = (last - first) * 60 / 4
    lo = first * 60 + region * span
    hi = lo + span
    found = []
    for s in slots(tenant, service, day):
        local = parse_instant(s["start"]).astimezone(tenant.zone)
        minute = local.hour * 60 + local.minute
        if lo <= minute < hi:
            found.append(s)
    return found


COUNTER = iter(range(10**9))


def client(prefix: str) -> tuple[str, str]:
    """A fresh (name, email) for a request; the address is unique in the whole run."""
    n = next(COUNTER)
    return f"{prefix.title()} Client {n}", f"{prefix}.{n}.{uuid.uuid4().hex[:6]}@{CLIENT_DOMAIN}"


def booking(tenant: Tenant, service: str, start: str, prefix: str, key: str | None = None, **extra) -> Req:
    name, address = client(prefix)
    body = {"start": start, "name": name, "email": address, **extra}
    headers = {"idempotency-key": key} if key else {}
    return Req("POST", f"/services/{tenant.service(service)}/book", body, headers,
               tag={"email": address, "service": service, "start": start, "tenant": tenant.key})


def hand_entered_job(tenant: Tenant, service: str, start: str, prefix: str) -> Req:
    name, address = client(prefix)
    body = {"serviceId": tenant.service(service), "start": start, "name": name, "email": address,
            "title": f"Walk-in {name}"}
    return Req("POST", "/jobs", body, bearer(tenant.token),
               tag={"email": address, "service": service, "start": start, "tenant": tenant.key, "hand_entered": True})


def emulator_500(r: Resp) -> bool:
    """cargo lambda watch's own 500 (text/plain, an httpstatuses.com type), not the function's:
    it hands the function's /response request to the waiting HTTP request and answers the
    function before that body is read, so a large body (availability over weeks, ~90 KB) can be
    cut off under load. Nothing like it stands between API Gateway and Lambda."""
    return r.status == 500 and b"httpstatuses.com" in r.raw and "problem" not in r.headers.get("content-type", "")


def expect_problem(r: Resp, status: int, code: str | None, what: str) -> bool:
    ok = r.status == status and (code is None or r.code == code)
    ok = ok and r.headers.get("content-type", "").startswith("application/problem+json")
    body = r.json
    ok = ok and isinstance(body, dict) and all(k in body for k in ("type", "title", "status", "detail", "code"))
    return check(ok, f"{what}: expected {status} {code or ''} problem+json, got {r.brief()}")


# --- invariants read from the database -----------------------------------------------------------


def peak_overlap(tenant: Tenant, buffered: bool) -> int:
    """The most active jobs of `tenant` holding one instant (the peak is at some job's start).
    `buffered`: every job widened by half the tenant's gap on both sides, as the engine counts."""
    half = f"interval '{tenant.gap * 30} seconds'" if buffered else "interval '0'"
    return scalar(f"""
        WITH j AS (SELECT starts_at - {half} AS s, ends_at + {half} AS e FROM jobs
                   WHERE tenant_id = {lit(tenant.id)} AND status IN {ACTIVE})
        SELECT coalesce(max((SELECT count(*) FROM j b WHERE b.s <= a.s AND b.e > a.s)), 0) FROM j a""")


def check_capacity(tenants: list[Tenant]) -> None:
    for t in tenants:
        for buffered in (False, True):
            peak = peak_overlap(t, buffered)
            FIG.overbookings = max(FIG.overbookings, peak - t.capacity)
            check(peak <= t.capacity, f"{t.slug}: {peak} active jobs overlap (buffered={buffered}), "
                                      f"capacity {t.capacity}")


def check_integrity() -> None:
    """No partial writes: every public job has its contact and both mails; every job confirmed
    (by its history: an owner's move also leaves `changed_by` an owner's) or declined its mail; no idempotency key points nowhere or hangs half-claimed."""
    missing = rows("""
        SELECT j.id, j.status, j.source, j.changed_by, array_agg(e.kind ORDER BY e.kind) AS kinds
        FROM jobs j LEFT JOIN emails e ON e.job_id = j.id
        GROUP BY j.id
        HAVING (j.source = 'public' AND NOT (
                   coalesce(bool_or(e.kind = 'owner-new-booking'), false)
               AND coalesce(bool_or(e.kind IN ('client-booked', 'client-pending')), false)))
            OR (j.status = 'cancelled' AND j.decline_reason IS NOT NULL
                AND NOT coalesce(bool_or(e.kind = 'client-declined'), false))
            OR (EXISTS (SELECT 1 FROM job_events v WHERE v.job_id = j.id AND v.action = 'confirmed')
                AND NOT coalesce(bool_or(e.kind = 'client-confirmed'), false))""")
    check(not missing, f"{len(missing)} job(s) without their mails: {missing[:3]}")
    both = rows("""SELECT job_id FROM emails GROUP BY job_id
                   HAVING count(*) FILTER (WHERE kind = 'client-confirmed') > 0
                      AND count(*) FILTER (WHERE kind = 'client-declined') > 0""")
    check(not both, f"{len(both)} job(s) both confirmed and declined by mail: {both[:3]}")
    orphans = scalar("SELECT count(*) FROM jobs j LEFT JOIN contacts c ON c.id = j.contact_id WHERE c.id IS NULL")
    check(orphans == 0, f"{orphans} job(s) without a contact")
    dangling = scalar("""SELECT count(*) FROM idempotency_keys k LEFT JOIN jobs j ON j.id = k.job_id
                         WHERE k.job_id IS NOT NULL AND j.id IS NULL""")
    check(dangling == 0, f"{dangling} idempotency key(s) point at no job")
    # A booking's key answers 201; a change of a job (scope `owner:…`, or `client:…` by the
    # manage link) answers 200.
    bad_status = scalar("""SELECT count(*) FROM idempotency_keys
                           WHERE job_id IS NOT NULL AND response_status IS DISTINCT FROM
                                 (CASE WHEN scope LIKE 'owner:%' OR scope LIKE 'client:%' THEN 200
                                       ELSE 201 END)""")
    check(bad_status == 0, f"{bad_status} idempotency key(s) with a job but not its 201 (booking) or 200 (change)")


def stuck_claims() -> int:
    """Keys claimed by a request that never finished (they answer request_in_progress for 2 min)."""
    return scalar("SELECT count(*) FROM idempotency_keys WHERE job_id IS NULL AND response_status IS NULL")


# --- phase: storms -------------------------------------------------------------------------------


def storm_burst(tenant: Tenant, kind: str, size: int, tag: str) -> list[Resp]:
    day, region = tenant.window()
    services = list(s for s, v in tenant.services.items() if v["active"])
    base_service = min(services, key=lambda s: tenant.services[s]["duration"])
    offered = region_slots(tenant, base_service, day, region)
    if not check(len(offered) >= 4, f"{tenant.slug} {day} region {region}: too few free slots {len(offered)}"):
        return []
    if kind == "same":
        # Every request for one start of one service: exactly `capacity` win.
        start = offered[1]["start"]
        service = rng.choice(services)
        if start not in {s["start"] for s in slots(tenant, service, day)}:
            service = base_service
        reqs = [booking(tenant, service, start, tag) for _ in range(size)]
    elif kind == "mixed":
        # Public bookings and owner-entered jobs for one start: the same guard for both.
        start = offered[1]["start"]
        reqs = [hand_entered_job(tenant, base_service, start, tag) if i % 3 == 0
                else booking(tenant, base_service, start, tag) for i in range(size)]
    else:
        # Overlapping but different starts (one slot interval apart), different services.
        starts = [s["start"] for s in offered[:4]]
        offers = {svc: {s["start"] for s in slots(tenant, svc, day)} for svc in services}
        reqs = []
        for i in range(size):
            start = starts[i % len(starts)]
            fitting = [svc for svc in services if start in offers[svc]] or [base_service]
            reqs.append(booking(tenant, rng.choice(fitting), start, tag))
    rng.shuffle(reqs)
    answers = burst(reqs)
    won = [r for r in answers if r.status == 201]
    for r in answers:
        if r.status == 201:
            job = r.json["job"]
            expected = "pending-confirmation" if tenant.confirm and not r.req.tag.get("hand_entered") else "scheduled"
            check(job["status"] == expected, f"status {job['status']} instead of {expected}")
            check(parse_instant(job["start"]) == parse_instant(r.req.tag["start"]), f"start moved: {r.brief()}")
        elif r.status == 409:
            expect_problem(r, 409, "slot_unavailable", "a lost race")
            body = r.json or {}
            if r.req.tag.get("hand_entered"):
                check(isinstance(body.get("conflicts"), list), f"no conflicts listed: {r.brief()}")
            else:
                check(isinstance(body.get("alternatives"), list) and len(body["alternatives"]) <= 3,
                      f"no alternatives: {r.brief()}")
        else:
            check(False, f"storm answer neither 201 nor 409: {r.brief()}")
    if kind in ("same", "mixed"):
        check(len(won) == tenant.capacity, f"{kind} burst at one start: {len(won)} won, capacity {tenant.capacity}")
        # Availability agrees with what landed: the start is no longer offered.
        start = reqs[0].tag["start"]
        left = [s for s in slots(tenant, reqs[0].tag["service"], day) if s["start"] == start]
        check(not left, f"availability still offers a full start: {left}")
    else:
        check(len(won) >= 1, f"overlap burst: nobody won ({Counter(r.status for r in answers)})")
    # Every 201 is exactly one job, and no job landed without a 201.
    addresses = [r.req.tag["email"] for r in answers]
    landed = {row["email"] for row in rows(
        "SELECT c.email FROM jobs j JOIN contacts c ON c.id = j.contact_id WHERE c.email IN ("
        + ",".join(lit(a) for a in addresses) + ")")}
    check(landed == {r.req.tag["email"] for r in won},
          f"jobs in the database ({len(landed)}) differ from 201 answers ({len(won)})")
    slow = max(r.seconds for r in answers)
    log(f"  {tenant.slug} {kind:7} {day} r{region}: {len(answers)} requests, {len(won)} won, "
        f"{Counter(r.status for r in answers)}, slowest {slow:.1f}s")
    return answers


def phase_storms(solo: Tenant, trio: Tenant) -> None:
    rounds = 5 if LONG else 1
    plan = [("same", 80), ("overlap", 100), ("mixed", 60), ("overlap", 75), ("same", 50), ("overlap", 90)]
    for _ in range(rounds):
        for tenant in (solo, trio):
            for kind, size in plan:
                storm_burst(tenant, kind, size, f"storm-{tenant.key}")
    check_capacity([solo, trio])


# --- phase: idempotency --------------------------------------------------------------------------


def phase_idempotency(solo: Tenant, trio: Tenant) -> None:
    for tenant in (solo, trio) * (3 if LONG else 1):
        day, region = tenant.window()
        service = min(tenant.services, key=lambda s: tenant.services[s]["duration"])
        start = region_slots(tenant, service, day, region)[0]["start"]
        key = f"idem-{uuid.uuid4()}"
        template = booking(tenant, service, start, "idem", key=key, notes="same key, same body")
        answers = burst([Req(template.method, template.path, template.body, dict(template.headers), template.tag)
                         for _ in range(50)])
        statuses = Counter(r.status for r in answers)
        created = [r for r in answers if r.status == 201]
        ids = {r.json["job"]["id"] for r in created}
        check(len(ids) == 1, f"one key, 50 requests: {len(ids)} distinct jobs answered ({statuses})")
        fresh = [r for r in created if r.headers.get("idempotent-replayed") != "true"]
        check(len(fresh) == 1, f"{len(fresh)} answers were not replays")
        for r in answers:
            if r.status == 409:
                expect_problem(r, 409, "request_in_progress", "a concurrent repeat")
            elif r.status != 201:
                check(False, f"idempotent repeat answered {r.brief()}")
        jobs = scalar(f"""SELECT count(*) FROM jobs j JOIN contacts c ON c.id = j.contact_id
                          WHERE c.email = {lit(template.tag['email'])}""")
        check(jobs == 1, f"one key: {jobs} jobs in the database")
        again = send(template)
        check(again.status == 201 and again.headers.get("idempotent-replayed") == "true"
              and again.json["job"]["id"] in ids, f"a later repeat does not replay: {again.brief()}")
        other = send(Req("POST", template.path, {**template.body, "notes": "another body"}, dict(template.headers)))
        expect_problem(other, 422, "idempotency_key_reused", "same key, another body")
        log(f"  {tenant.slug}: one key x50 → {dict(statuses)}, 1 job")

    # Several keys racing for one capacity-1 start: one job overall; every key's replay matches
    # the final answer it got (201 with the job, or the stored 409).
    day, region = solo.window()
    start = region_slots(solo, "trim", day, region)[0]["start"]
    templates = [booking(solo, "trim", start, "idemrace", key=f"race-{uuid.uuid4()}") for _ in range(5)]
    reqs = [Req(t.method, t.path, t.body, dict(t.headers), t.tag) for t in templates for _ in range(12)]
    rng.shuffle(reqs)
    answers = burst(reqs)
    check(all(r.status in (201, 409) for r in answers), f"key race: {Counter(r.status for r in answers)}")
    landed = scalar(f"SELECT count(*) FROM jobs WHERE starts_at = {lit(start)}::timestamptz AND tenant_id = {lit(solo.id)} AND status IN {ACTIVE}")
    check(landed == 1, f"5 keys x 12 at one capacity-1 start: {landed} jobs")
    for t in templates:
        final = [r for r in answers if r.req.tag is t.tag and not (r.status == 409 and r.code == "request_in_progress")]
        replay = send(t)
        if final:
            check(replay.status == final[0].status and replay.code == final[0].code,
                  f"replay {replay.brief()} differs from the first answer {final[0].brief()}")
    log(f"  5 keys x 12 at one start: {dict(Counter((r.status, r.code) for r in answers))}")


# --- phase: confirm against decline --------------------------------------------------------------


def pending_jobs(tenant: Tenant, n: int, exclude: set | None = None) -> list[str]:
    found = [r["id"] for r in rows(f"""SELECT id FROM jobs WHERE tenant_id = {lit(tenant.id)}
                                       AND status = 'pending-confirmation' ORDER BY random() LIMIT {n + 50}""")]
    return [j for j in found if j not in (exclude or set())][:n]


def phase_races(trio: Tenant) -> None:
    per_burst = 16
    for _ in range(3 if LONG else 1):
        jobs = pending_jobs(trio, per_burst)
        if not check(len(jobs) >= 8, f"only {len(jobs)} pending jobs to race on"):
            return
        reqs = []
        for job in jobs:
            for i in range(3):
                reqs.append(Req("POST", f"/jobs/{job}/confirm", None, bearer(trio.token), tag=(job, "confirm", None)))
                reason = f"Declined by racer {i}: sorry ‘{job[:4]}’ & <b>no</b>"
                reqs.append(Req("POST", f"/jobs/{job}/decline", {"reason": reason}, bearer(trio.token),
                                tag=(job, "decline", reason)))
        rng.shuffle(reqs)
        answers = burst(reqs)
        by_job = defaultdict(list)
        for r in answers:
            by_job[r.req.tag[0]].append(r)
        outcome = Counter()
        for job, answered in by_job.items():
            wins = [r for r in answered if r.status == 200]
            check(len(wins) == 1, f"job {job}: {len(wins)} winners of confirm/decline "
                                  f"({Counter((r.status, r.code) for r in answered)})")
            for r in answered:
                if r.status != 200:
                    expect_problem(r, 409, "invalid_transition", "a lost confirm/decline")
            if len(wins) != 1:
                continue
            win = wins[0]
            _, action, reason = win.req.tag
            outcome[action] += 1
            state = rows(f"SELECT status, decline_reason FROM jobs WHERE id = {lit(job)}")[0]
            mails = Counter(r["kind"] for r in rows(f"SELECT kind FROM emails WHERE job_id = {lit(job)}"))
            if action == "confirm":
                check(state["status"] == "scheduled" and state["decline_reason"] is None, f"{job}: {state}")
                check(mails["client-confirmed"] == 1 and mails["client-declined"] == 0, f"{job}: mails {mails}")
                check(win.json["job"]["status"] == "scheduled", f"confirm answered {win.brief()}")
            else:
                check(state == {"status": "cancelled", "decline_reason": reason}, f"{job}: {state}")
                check(mails["client-declined"] == 1 and mails["client-confirmed"] == 0, f"{job}: mails {mails}")
                check(win.json["job"].get("declineReason") == reason, f"decline answered {win.brief()}")
        log(f"  {len(answers)} confirm/decline requests on {len(jobs)} jobs: {dict(outcome)}")
    check_capacity([trio])


# --- phase: hostile input ------------------------------------------------------------------------

NASTY_NAMES = [
    "Robert'); DROP TABLE jobs;--",
    "O'Brien \"Bobby\" \\ % _ ; -- /* */",
    "Zoë Ñandú 中文 ✓ 💥 عربى",
    "Mallory <attacker@evil.example>, \"x\" <y@evil.example>",
    "=?utf-8?q?Injected=0D=0ABcc:_victim@evil.example?=",
    "Name: With: Colons\u2028Bcc: victim@evil.example",
]


def phase_hostile(solo: Tenant, trio: Tenant) -> dict:
    """Returns {job_id: expected client name} for the raw-mail header check after the relay."""
    free = free_starts(solo, "trim", len(NASTY_NAMES) + 1)
    stored = {}
    for i, name in enumerate(NASTY_NAMES):
        local = f"o'hara+{i}%_x--"
        address = f"{local}.{uuid.uuid4().hex[:6]}@{CLIENT_DOMAIN}"
        notes = f"Line one; DELETE FROM contacts;\nLine two 🚀 'quoted' \"double\" \\ back\tTab {name}"
        body = {"start": free[i], "name": name, "email": address, "phone": "+1 (555) 010-0199", "notes": notes}
        r = post(f"/services/{solo.service('trim')}/book", body)
        if not check(r.status == 201, f"hostile but valid booking refused: {r.brief()}"):
            continue
        job = r.json["job"]
        check(job["client"]["name"] == name and job["client"]["email"] == address and job.get("notes") == notes,
              f"values not returned verbatim: {job['client']} {job.get('notes')!r}")
        db = rows(f"""SELECT c.name, c.email, j.notes FROM jobs j JOIN contacts c ON c.id = j.contact_id
                      WHERE j.id = {lit(job['id'])}""")[0]
        check(db == {"name": name, "email": address, "notes": notes}, f"values not stored verbatim: {db}")
        stored[job["id"]] = (name, address)
    check(scalar("SELECT count(*) FROM jobs") > 0, "the jobs table is gone")

    service = solo.service("trim")
    book = f"/services/{service}/book"
    good = {"start": free[len(NASTY_NAMES)], "name": "Valid Name", "email": f"valid@{CLIENT_DOMAIN}"}
    cases = [
        # (what, request, expected status, expected code)
        ("control chars in name", Req("POST", book, {**good, "name": "Eve\r\nBcc: victim@evil.example"}), 400, "invalid_request"),
        ("NEL in name", Req("POST", book, {**good, "name": "Eve\u0085Bcc: x@evil.example"}), 400, "invalid_request"),
        ("CRLF in email", Req("POST", book, {**good, "email": f"eve@{CLIENT_DOMAIN}\r\nBcc: victim@evil.example"}), 400, "invalid_request"),
        ("two addresses", Req("POST", book, {**good, "email": f"a@{CLIENT_DOMAIN}, b@evil.example"}), 400, "invalid_request"),
        ("NUL in notes", Req("POST", book, {**good, "notes": "nul\u0000byte"}), 400, "invalid_request"),
        # Unicode format characters (bidi overrides, zero-width) are refused like control characters.
        ("bidi override in name", Req("POST", book, {**good, "name": "\u202eevil\u202c mirror"}), 400, "invalid_request"),
        ("bidi override in notes", Req("POST", book, {**good, "notes": "Tab \u202e reversed"}), 400, "invalid_request"),
        ("zero-width space in name", Req("POST", book, {**good, "name": "Zero\u200bWidth"}), 400, "invalid_request"),
        ("1 MB body", Req("POST", book, json.dumps({**good, "notes": "x" * (1 << 20)})), 400, "invalid_request"),
        ("1 MB name", Req("POST", book, {**good, "name": "n" * (1 << 20)}), 400, "invalid_request"),
        ("201-char name", Req("POST", book, {**good, "name": "n" * 201}), 400, "invalid_request"),
        ("deep JSON", Req("POST", book, '{"start":' + "[" * 100000 + "]" * 100000 + "}"), 400, "invalid_request"),
        ("deep JSON object", Req("POST", book, '{"a":' * 5000 + "1" + "}" * 5000), 400, "invalid_request"),
        ("not JSON", Req("POST", book, "start=2026&name=x", {"content-type": "application/x-www-form-urlencoded"}), 400, "invalid_request"),
        ("text/plain", Req("POST", book, json.dumps(good), {"content-type": "text/plain"}), 400, "invalid_request"),
        ("multipart", Req("POST", book, b"--x\r\n\r\n--x--", {"content-type": "multipart/form-data; boundary=x"}), 400, "invalid_request"),
        ("JSON array", Req("POST", book, [good]), 400, "invalid_request"),
        ("JSON null", Req("POST", book, "null", {"content-type": "application/json"}), 400, "invalid_request"),
        ("empty body", Req("POST", book, b"", {"content-type": "application/json"}), 400, "invalid_request"),
        ("number as name", Req("POST", book, {**good, "name": 12}), 400, "invalid_request"),
        ("huge number", Req("POST", book, '{"start": 1e999999, "name": "x", "email": "y"}', {"content-type": "application/json"}), 400, "invalid_request"),
        ("duplicate keys", Req("POST", book, '{"start": "x", "start": "y", "name": "a", "email": "b"}', {"content-type": "application/json"}), 400, "invalid_request"),
        ("bad start", Req("POST", book, {**good, "start": "2026-02-30T25:61:00Z' OR 1=1--"}), 400, "invalid_request"),
        ("256-char key", Req("POST", book, good, {"idempotency-key": "k" * 256}), 400, "invalid_request"),
        ("64 KB key", Req("POST", book, good, {"idempotency-key": "k" * 65536}), None, None),
        ("key with space", Req("POST", book, good, {"idempotency-key": "a b"}), 400, "invalid_request"),
        ("key with unicode", Req("POST", book, good, {"idempotency-key": "clé-ü".encode().decode("latin-1")}), 400, "invalid_request"),
        ("SQL in path", Req("POST", f"/services/{urllib.parse.quote(chr(39) + ' OR 1=1--')}/book", good), 404, "service_not_found"),
        ("inactive service", Req("POST", f"/services/{solo.service('retired')}/book", good), 404, "service_not_found"),
        ("unknown service", Req("POST", f"/services/{uuid.uuid4()}/book", good), 404, "service_not_found"),
        ("bad date", Req("GET", f"/services/{service}/availability?from=2026-13-45"), 400, "invalid_request"),
        ("SQL in date", Req("GET", f"/services/{service}/availability?from=" + urllib.parse.quote("2026-01-01' OR '1'='1")), 400, "invalid_request"),
        ("range too long", Req("GET", f"/services/{service}/availability?from=2026-12-01&to=2027-12-01"), 400, "invalid_request"),
        ("to before from", Req("GET", f"/services/{service}/availability?from=2026-12-10&to=2026-12-01"), 400, "invalid_request"),
        ("1 MB decline reason", Req("POST", f"/jobs/{uuid.uuid4()}/decline", {"reason": "r" * (1 << 20)}, bearer(trio.token)), 400, "invalid_request"),
        ("hand-entered job, deep JSON", Req("POST", "/jobs", '[' * 50000 + ']' * 50000, {**bearer(solo.token), "content-type": "application/json"}), 400, "invalid_request"),
    ]
    # A body that is not UTF-8: cargo lambda watch itself answers 500 (its own body, before any
    # function runs: API Gateway would not forward such an event either). Noted, not failed.
    r = send(Req("POST", book, b'{"name": "\xff\xfe", "start": "x", "email": "y"}', {"content-type": "application/json"}))
    if r.status == 500 and b"httpstatuses.com" in r.raw:
        FIG.notes.append("a non-UTF-8 body gets the local emulator's own 500 (cargo lambda watch), before any function runs")
    else:
        expect_problem(r, 400, "invalid_request", "invalid UTF-8")
    for what, req, status, code in cases:
        r = send(req)
        if status is None:
            # Oversized header: refused somewhere (431/400/413), never a 5xx, never a booking.
            check(r.status in (400, 413, 431) or r.status == 0, f"{what}: {r.brief()}")
        else:
            expect_problem(r, status, code, what)
        check(b"diesel" not in r.raw.lower() and b"postgres" not in r.raw.lower() and b"panick" not in r.raw.lower(),
              f"{what}: internals in the answer: {r.brief()}")
    landed = scalar(f"SELECT count(*) FROM contacts WHERE email = {lit(good['email'])}")
    check(landed == 0, f"refused requests still wrote {landed} contact(s)")
    log(f"  {len(NASTY_NAMES)} hostile-but-valid bookings stored verbatim; {len(cases)} bad requests refused")
    return stored


def check_raw_mails(stored: dict, messages: dict) -> None:
    """The mails of the hostile bookings: one To address each (the client's), no injected header."""
    by_job = defaultdict(list)
    for raw in messages.values():
        job, kind = mail_identity(raw)
        if job in stored:
            by_job[job].append((kind, raw))
    allowed = {"from", "reply-to", "to", "subject", "mime-version", "date", "content-type",
               "content-transfer-encoding", "message-id"}
    for job, (name, address) in stored.items():
        check(len(by_job[job]) == 2, f"hostile booking {job}: {len(by_job[job])} mails instead of 2")
        for kind, raw in by_job[job]:
            # compat32 keeps the raw header text: what a receiving MTA parses.
            msg = email.message_from_string(raw)
            headers = {k.lower() for k in msg.keys()}
            check(headers <= allowed, f"{job} {kind}: unexpected headers {headers - allowed}")
            check("bcc" not in headers and "cc" not in headers, f"{job} {kind}: Cc/Bcc injected")
            field = "to" if kind.startswith("client") else "reply-to"
            values = msg.get_all(field) or []
            addresses = email.utils.getaddresses(values)
            check(len(values) == 1 and len(addresses) == 1 and addresses[0][1] == address,
                  f"{job} {kind}: {field} holds {addresses} instead of one {address}")
            if addresses:
                # The client's name is the owner mail's Reply-To display name; a client mail
                # carries none (it only greets with the name). Adjacent encoded-words join
                # without the folding space (RFC 2047 6.2).
                shown = str(email.header.make_header(email.header.decode_header(addresses[0][0])))
                expected = "" if kind.startswith("client") else name
                check(shown == expected, f"{job} {kind}: display name {shown!r} instead of {expected!r}")
            head = raw.split("\r\n\r\n", 1)[0]
            for line in head.split("\r\n"):
                check(not re.match(r"(?i)^(bcc|cc|x-injected)\s*:", line), f"{job} {kind}: injected line {line!r}")
                check("evil.example" not in line, f"{job} {kind}: an address from the name in clear: {line!r}")


# --- phase: auth and isolation -------------------------------------------------------------------


def phase_auth(solo: Tenant, trio: Tenant) -> None:
    now = int(time.time())
    good_claims = {"sub": "reliability", "tenant_id": trio.id, "iat": now, "exp": now + 600}
    forged = {
        "no header": None,
        "empty bearer": "Bearer ",
        "basic auth": "Basic " + base64.b64encode(b"owner:secret").decode(),
        "garbage": "Bearer not.a.jwt",
        "wrong secret": "Bearer " + jwt(good_claims, secret="not-the-secret"),
        "empty secret": "Bearer " + jwt(good_claims, secret=""),
        "signature stripped": "Bearer " + jwt(good_claims).rsplit(".", 1)[0] + ".",
        "payload swapped": "Bearer " + ".".join([jwt(good_claims).split(".")[0],
                                                 b64u(json.dumps({**good_claims, "tenant_id": solo.id}).encode()),
                                                 jwt(good_claims).split(".")[2]]),
        "alg none": "Bearer " + jwt(good_claims, alg="none"),
        "alg None": "Bearer " + jwt(good_claims, alg="none", header={"alg": "None", "typ": "JWT"}),
        "alg HS512": "Bearer " + jwt(good_claims, alg="HS512"),
        "alg RS256 header": "Bearer " + jwt(good_claims, header={"alg": "RS256", "typ": "JWT"}),
        "expired": "Bearer " + jwt({**good_claims, "exp": now - 3600}),
        "no exp": "Bearer " + jwt({k: v for k, v in good_claims.items() if k != "exp"}),
        "exp as string": "Bearer " + jwt({**good_claims, "exp": "9999999999"}),
        "no tenant": "Bearer " + jwt({k: v for k, v in good_claims.items() if k != "tenant_id"}),
        "tenant not a uuid": "Bearer " + jwt({**good_claims, "tenant_id": "' OR 1=1--"}),
        "huge token": "Bearer " + "a" * 8000,
    }
    job = pending_jobs(trio, 1)
    job = job[0] if job else str(uuid.uuid4())
    day, _ = trio.window()
    start = slots(trio, "checkup", day)[0]["start"]
    hand_entered_body = {"serviceId": trio.service("checkup"), "start": start, "name": "Forger", "email": f"forger@{CLIENT_DOMAIN}"}
    routes = [("confirm", f"/jobs/{job}/confirm", None), ("decline", f"/jobs/{job}/decline", {"reason": "forged"}),
              ("enter by hand", "/jobs", hand_entered_body)]
    refused = 0
    for what, header in forged.items():
        for route, path, body in routes:
            headers = {"authorization": header} if header is not None else {}
            r = send(Req("POST", path, body, headers))
            if expect_problem(r, 401, "unauthorized", f"{what} on {route}"):
                refused += 1
    # The python-minted good token works (so the 401s above are the defects, not the minting).
    valid = post(f"/jobs/{uuid.uuid4()}/confirm", None, authorization="Bearer " + jwt(good_claims))
    expect_problem(valid, 404, "job_not_found", "a well-formed token for an unknown job")
    early = post(f"/jobs/{uuid.uuid4()}/confirm", None,
                 authorization="Bearer " + jwt({**good_claims, "nbf": now + 3600}))
    if early.status != 401:
        FIG.notes.append(f"a token whose nbf lies an hour ahead is accepted locally ({early.status} {early.code})")
    state = scalar(f"SELECT status FROM jobs WHERE id = {lit(job)}")
    check(state in (None, "pending-confirmation"), f"forged tokens changed the job: {state}")
    check(scalar(f"SELECT count(*) FROM contacts WHERE email = 'forger@{CLIENT_DOMAIN}'") == 0, "a forged token created a job")

    # Isolation: the solo owner reaches nothing of the trio tenant, and the answers are the same
    # as for ids that do not exist (no existence oracle).
    jobs = pending_jobs(trio, 5)
    unknown = str(uuid.uuid4())
    for j in jobs:
        for action, body in (("confirm", None), ("decline", {"reason": "not yours"})):
            mine = post(f"/jobs/{j}/{action}", body, **bearer(solo.token))
            none = post(f"/jobs/{unknown}/{action}", body, **bearer(solo.token))
            expect_problem(mine, 404, "job_not_found", f"{action} of another tenant's job")
            check(mine.raw == none.raw, f"another tenant's job answers differently from no job: {mine.raw!r} vs {none.raw!r}")
    after = Counter(r["status"] for r in rows(f"SELECT status FROM jobs WHERE id IN ({','.join(lit(j) for j in jobs)})")) if jobs else {}
    check(set(after) <= {"pending-confirmation"}, f"another tenant's token changed jobs: {after}")
    cross = post("/jobs", {**hand_entered_body, "email": f"cross@{CLIENT_DOMAIN}"}, **bearer(solo.token))
    expect_problem(cross, 404, "service_not_found", "owner job on another tenant's service")
    check(scalar(f"SELECT count(*) FROM contacts WHERE email = 'cross@{CLIENT_DOMAIN}'") == 0, "cross-tenant job written")
    # A token for a tenant that does not exist.
    ghost = post("/jobs", {**hand_entered_body, "email": f"ghost@{CLIENT_DOMAIN}"},
                 authorization="Bearer " + jwt({**good_claims, "tenant_id": str(uuid.uuid4())}))
    check(ghost.status in (401, 404), f"token of an unknown tenant: {ghost.brief()}")
    check(scalar(f"SELECT count(*) FROM contacts WHERE email = 'ghost@{CLIENT_DOMAIN}'") == 0, "ghost-tenant job written")
    log(f"  {refused} forged-token requests refused with 401; {len(jobs) * 2 + 2} cross-tenant requests 404")


# --- phase: database faults ----------------------------------------------------------------------


KILL_SQL = """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()"""


def kill_backends() -> int:
    n = int(sql(KILL_SQL) or 0)
    with FIG.lock:
        FIG.kills += 1
        FIG.backends_killed += n
    return n


def free_starts(tenant: Tenant, service: str, n: int) -> list[str]:
    """`n` starts that do not compete with each other (one service length plus gap apart)."""
    step = tenant.services[service]["duration"] + tenant.gap
    found: list[str] = []
    last = None  # windows follow each other in time: keep the distance across them too
    while len(found) < n:
        day, region = tenant.window()
        for s in region_slots(tenant, service, day, region):
            at = parse_instant(s["start"])
            if last is None or (at - last).total_seconds() >= step * 60:
                found.append(s["start"])
                last = at
    return found[:n]


def fault_round(solo: Tenant, trio: Tenant, size: int) -> None:
    reqs = []
    for tenant, service in ((solo, "trim"), (trio, "checkup")):
        for start in free_starts(tenant, service, size // 2 - 5):
            reqs.append(booking(tenant, service, start, "fault", key=f"fault-{uuid.uuid4()}"))
    day, _ = trio.window()
    # One day each: small answers (see emulator_500 for what large ones meet locally).
    reqs += [Req("GET", f"/services/{trio.service('treatment')}/availability?from={day}&to={day}")
             for _ in range(5)]
    confirmable = pending_jobs(trio, 5)
    reqs += [Req("POST", f"/jobs/{j}/confirm", None, bearer(trio.token), tag={"confirm": j}) for j in confirmable]
    rng.shuffle(reqs)
    killed = []

    def killer():
        # Kill every backend of the database again and again while the burst is in flight.
        for _ in range(12):
            time.sleep(0.12)
            killed.append(kill_backends())

    answers = burst(reqs, during=killer)
    FAULT_JOBS.update(j for j in confirmable)
    FAULT_JOBS.update(r.json["job"]["id"] for r in answers if r.status == 201 and r.json)
    statuses = Counter((r.status, r.code) for r in answers)
    for r in answers:
        if r.status == 503:
            expect_problem(r, 503, "unavailable", "a request hit by the kill")
            check(r.headers.get("retry-after") is not None, f"503 without Retry-After: {r.brief()}")
            FIG.answered_503 += 1
        elif r.status == 409 and r.code == "slot_unavailable":
            pass
        elif emulator_500(r) and r.req.method == "GET":
            FIG.notes.append(f"cargo lambda watch answered its own 500 to {r.req.path[:60]} (emulator)")
            again = send(r.req)
            check(again.status == 200, f"availability after the emulator's 500: {again.brief()}")
        else:
            check(r.status in (200, 201), f"under database kills: {r.brief()}")
    log(f"  kills terminated {killed} backends during {len(reqs)} requests: {dict(statuses)}")

    # Retrying what failed is safe: the same key finishes the booking (or replays it), the
    # confirm either lands or says it already did.
    retried = Counter()
    for r in answers:
        if r.status != 503:
            continue
        again = send(r.req)
        retried[(again.status, again.code)] += 1
        if again.status == 201 and again.json:
            FAULT_JOBS.add(again.json["job"]["id"])
        if r.req.path.endswith("/book") and again.code == "request_in_progress":
            # The release of the key after the 503 went through a fresh connection, and the
            # kills got that one too: the claim stays until the 2-minute takeover frees it.
            STUCK_KEYS.append((time.monotonic(), r.req))
        elif r.req.path.endswith("/book"):
            check(again.status in (201, 409), f"retry after 503 with the same key: {again.brief()}")
        elif "confirm" in r.req.path:
            check(again.status == 200 or again.code == "invalid_transition", f"confirm retry: {again.brief()}")
        else:
            check(again.status == 200, f"retry after 503: {again.brief()}")
    if retried:
        log(f"  retries of the 503s: {dict(retried)}")

    # Every booking answered 201 exists; those answered 503 and not retried... all were retried.
    for r in answers:
        if r.req.path.endswith("/book") and r.status == 201:
            n = scalar(f"""SELECT count(*) FROM jobs j JOIN contacts c ON c.id = j.contact_id
                           WHERE c.email = {lit(r.req.tag['email'])}""")
            check(n == 1, f"a 201 booking has {n} jobs")

    # The next requests after a kill succeed: every process of every function meets a dead
    # pooled connection first.
    kill_backends()
    time.sleep(0.2)
    after = [booking(solo, "trim", s, "afterkill") for s in free_starts(solo, "trim", 8)]
    day, _ = solo.window()
    after += [Req("GET", f"/services/{solo.service('cut')}/availability?from={day}&to={day}") for _ in range(8)]
    after += [Req("POST", f"/jobs/{j}/confirm", None, bearer(trio.token)) for j in pending_jobs(trio, 4)]
    answers = burst(after)
    bad = [r.brief() for r in answers if r.status not in (200, 201)]
    check(not bad, f"{len(bad)} of the first {len(after)} requests after a kill failed: {bad[:4]}")
    check_integrity()


def warm_up(solo: Tenant, trio: Tenant) -> None:
    """Starts every process of every function (4 each), so faults meet live connections."""
    day, _ = trio.window()
    reqs = [Req("GET", f"/services/{trio.service('checkup')}/availability?from={day}&to={day}") for _ in range(4)]
    reqs += [Req("POST", f"/services/{solo.service('trim')}/book", {"start": "2000-01-01T00:00:00Z", "name": "W",
                                                                     "email": f"warm@{CLIENT_DOMAIN}"}) for _ in range(4)]
    for action in ("confirm", "decline"):
        reqs += [Req("POST", f"/jobs/{uuid.uuid4()}/{action}", {"reason": "warm-up"}, bearer(trio.token)) for _ in range(4)]
    reqs += [Req("POST", "/jobs", {}, bearer(trio.token)) for _ in range(4)]
    # The owner's calendar and transitions (owner-calendar, job-transitions).
    reqs += [Req("GET", f"/jobs?from={day}&to={day}", None, bearer(trio.token)) for _ in range(4)]
    reqs += [Req("POST", f"/jobs/{uuid.uuid4()}/start", None, bearer(trio.token)) for _ in range(4)]
    answers = burst(reqs)
    check(all(r.status in (200, 400, 404, 422) for r in answers), f"warm-up: {Counter(r.status for r in answers)}")


def phase_dbfaults(solo: Tenant, trio: Tenant) -> None:
    warm_up(solo, trio)
    for _ in range(4 if LONG else 2):
        fault_round(solo, trio, 80)
    log(f"  stuck idempotency claims: {stuck_claims()}")
    check_capacity([solo, trio])


# --- moto (SES) ----------------------------------------------------------------------------------

FAULT_JOBS: set = set()  # jobs whose requests ran while database backends were being killed
STUCK_KEYS: list = []  # (when, request): a retry after 503 met the key still claimed


def resolve_stuck_keys() -> None:
    """Keys whose claim outlived a killed request are taken over after two minutes: the same
    request then goes through (or gets its definite answer), never request_in_progress again."""
    if not STUCK_KEYS:
        return
    wait = STUCK_KEYS[-1][0] + 125 - time.monotonic()
    if wait > 0:
        log(f"  waiting {wait:.0f}s for the 2-minute takeover of {len(STUCK_KEYS)} claimed key(s)")
        time.sleep(wait)
    for _, req in STUCK_KEYS:
        again = send(req)
        check(again.status == 201 or (again.status == 409 and again.code == "slot_unavailable"),
              f"a claimed key after the takeover window: {again.brief()}")
        if again.status == 201 and again.json:
            FAULT_JOBS.add(again.json["job"]["id"])
    FIG.notes.append(f"{len(STUCK_KEYS)} idempotency key(s) stayed claimed because the kills also cut the "
                     "connection that frees them; the 2-minute takeover released them")
    STUCK_KEYS.clear()

MOTO_PROC: list = []
SEEN_MAILS: dict = {}  # moto message id → raw message, over every moto lifetime of the run


def moto_port() -> int:
    return urllib.parse.urlsplit(MOTO).port


def moto_get(path: str, timeout: float = 30):
    conn = http.client.HTTPConnection("127.0.0.1", moto_port(), timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def moto_start() -> None:
    logfile = open(RUN_DIR / "moto.log", "ab")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port())],
                            stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
    MOTO_PROC.append(proc)
    MOTO_PIDFILE.write_text(str(proc.pid))
    for _ in range(240):
        try:
            if moto_get("/moto-api/data.json", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("moto_server exited; see moto.log")
        time.sleep(0.25)
    else:
        raise RuntimeError("moto_server does not answer")
    # Verify the sender (moto keeps nothing across restarts). SigV4 scope names SES; the
    # signature itself is not checked.
    conn = http.client.HTTPConnection("127.0.0.1", moto_port(), timeout=30)
    region = os.environ.get("AWS_REGION", "us-east-1")
    conn.request("POST", "/v2/email/identities", json.dumps({"EmailIdentity": SENDER}), {
        "content-type": "application/json",
        "authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/ses/aws4_request, SignedHeaders=host, Signature=0"})
    answer = conn.getresponse()
    text = answer.read()
    conn.close()
    if answer.status != 200 and b"AlreadyExists" not in text:
        raise RuntimeError(f"moto: CreateEmailIdentity failed: {answer.status} {text[:200]!r}")


def moto_stop() -> None:
    snapshot_moto()
    while MOTO_PROC:
        proc = MOTO_PROC.pop()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    MOTO_PIDFILE.unlink(missing_ok=True)


def snapshot_moto() -> dict:
    """Adds moto's stored raw messages to SEEN_MAILS (moto forgets them when it stops)."""
    status, body = moto_get("/moto-api/data.json", timeout=120)
    if status == 200:
        for message in json.loads(body).get("ses", {}).get("RawMessage", []):
            SEEN_MAILS.setdefault(message["id"], message["raw_data"])
    return SEEN_MAILS


UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KINDS = [("Booked:", "client-booked"), ("Request received:", "client-pending"), ("Confirmed:", "client-confirmed"),
         ("Declined:", "client-declined"), ("New booking", "owner-new-booking"), ("Cancelled:", "client-cancelled"),
         ("Moved:", "client-rescheduled"), ("Cancelled by the client:", "owner-booking-cancelled"),
         ("Moved by the client", "owner-booking-rescheduled"), ("Reminder:", "client-reminder")]


def mail_identity(raw: str) -> tuple[str | None, str | None]:
    """(job id, kind) of a raw mail: the kind from its subject, the job from the calendar UID
    (client mails) or the dashboard link (owner mail)."""
    msg = email.message_from_string(raw, policy=email.policy.default)
    subject = str(msg.get("subject", ""))
    kind = next((k for prefix, k in KINDS if subject.startswith(prefix)), None)
    text = ""
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        try:
            text += part.get_content() if isinstance(part.get_content(), str) else ""
        except (LookupError, ValueError):
            pass
    found = re.search(rf"({UUID_RE})@booking", text) or re.search(rf"/jobs/({UUID_RE})", text)
    return (found.group(1) if found else None), kind


def relay_once() -> dict:
    """One run of the email-relay Lambda through cargo lambda watch's invoke API."""
    r = send(Req("POST", "/2015-03-31/functions/email-relay/invocations", {}), timeout=180)
    check(r.status == 200, f"relay invocation: {r.brief()}")
    return r.json or {}


# --- phase: SES faults ---------------------------------------------------------------------------


def phase_sesfaults(solo: Tenant, trio: Tenant) -> None:
    for round_ in range(2 if LONG else 1):
        moto_stop()
        FIG.moto_outages += 1
        reqs = [booking(solo, "trim", s, "sesdown") for s in free_starts(solo, "trim", 30)]
        reqs += [booking(trio, "checkup", s, "sesdown") for s in free_starts(trio, "checkup", 30)]
        pend = pending_jobs(trio, 10)
        reqs += [Req("POST", f"/jobs/{j}/confirm", None, bearer(trio.token)) for j in pend[:5]]
        reqs += [Req("POST", f"/jobs/{j}/decline", {"reason": "SES is down, still declined"}, bearer(trio.token))
                 for j in pend[5:]]
        answers = burst(reqs)
        bad = [r.brief() for r in answers if r.status not in (200, 201)]
        check(not bad, f"with SES down, {len(bad)} of {len(reqs)} requests failed: {bad[:3]}")
        slow = max(r.seconds for r in answers)
        pending = scalar("SELECT count(*) FROM emails WHERE status = 'pending'")
        log(f"  moto down: {len(answers)} requests, {Counter(r.status for r in answers)}, slowest {slow:.1f}s, "
            f"{pending} mails waiting")
        check(pending >= 2 * 60, f"only {pending} mails wait for SES")
        leaked = scalar(f"SELECT count(*) FROM emails WHERE last_error ~* '[a-z0-9._%+-]+@{re.escape(CLIENT_DOMAIN)}'")
        check(leaked == 0, f"{leaked} mail error(s) hold a client address in clear")
        failed = scalar("SELECT count(*) FROM emails WHERE status = 'failed'")
        check(failed == 0, f"{failed} mails given up while SES was down (should be retried)")

        moto_start()
        # The mails are due again after their backoff (30 s after a first failure): wait for it
        # rather than touching the outbox.
        wait = scalar("SELECT extract(epoch FROM max(next_attempt_at) - now()) FROM emails WHERE status = 'pending'") or 0
        if wait > 0:
            # Waiting for real (backoffs, leases of mails cut off by the database kills) up to
            # 150 s; beyond that the clock is moved instead: the outbox rows are made due.
            log(f"  waiting {min(wait, 150):.0f}s for the backoff before the relay runs")
            time.sleep(min(wait, 150) + 1)
            if wait > 150:
                sql("UPDATE emails SET next_attempt_at = now() WHERE status = 'pending'")
        reports = []
        for _ in range(10):
            # Two relays at once (as a slow run overlapping the next schedule would): none twice.
            with ThreadPoolExecutor(2) as pool:
                reports += list(pool.map(lambda _: relay_once(), range(2)))
            if scalar("SELECT count(*) FROM emails WHERE status = 'pending'") == 0:
                break
            time.sleep(2)
        left = scalar("SELECT count(*) FROM emails WHERE status <> 'sent'")
        check(left == 0, f"{left} mail(s) not sent after the relay: "
                         f"{rows('SELECT kind, status, attempts, last_error FROM emails WHERE status <> ' + lit('sent') + ' LIMIT 3')}")
        log(f"  relay runs: {[(r.get('sent'), r.get('retried'), r.get('failed')) for r in reports]}")
    check_mail_accounting()


def check_mail_accounting() -> None:
    """Every recorded mail reached moto exactly once, and moto holds nothing else."""
    if STUCK_KEYS:
        resolve_stuck_keys()
        # Bookings that landed only now send their mails now; the relay picks up the rest.
        time.sleep(3)
        relay_once()
    snapshot_moto()
    recorded = rows("SELECT job_id::text AS job, kind, status, ses_message_id FROM emails")
    by_message = {r["ses_message_id"]: r for r in recorded if r["ses_message_id"]}
    per_job_kind = Counter()
    strangers = 0
    for message_id, raw in SEEN_MAILS.items():
        job, kind = mail_identity(raw)
        per_job_kind[(job, kind)] += 1
        row = by_message.get(message_id)
        if row is None:
            strangers += 1
        else:
            check((row["job"], row["kind"]) == (job, kind),
                  f"moto message {message_id} is {(job, kind)}, recorded as {(row['job'], row['kind'])}")
    # One mail per change: a job moved twice has two client-rescheduled mails, each recorded.
    recorded_per_job_kind = Counter((r["job"], r["kind"]) for r in recorded)
    twice = {k: n for k, n in per_job_kind.items() if n > max(1, recorded_per_job_kind[k])}
    # A backend killed while its process waits for SES: SES accepted the mail and the outbox
    # could not record it on that connection. The function records it through a fresh one, so
    # the relay does not send it again: a duplicate anywhere, kills included, fails the run.
    after_kill = {k: n for k, n in twice.items() if k[0] in FAULT_JOBS}
    check(not twice, f"{len(twice)} (job, kind) delivered more than once "
                     f"({len(after_kill)} of them jobs hit by database kills): {list(twice.items())[:3]}")
    check(strangers == 0, f"{strangers} moto message(s) match no recorded mail")
    FIG.duplicate_mails = sum(n - 1 for n in twice.values())
    unsent = [r for r in recorded if r["status"] != "sent"]
    check(not unsent, f"{len(unsent)} recorded mail(s) not sent: {unsent[:3]}")
    lost = [r for r in recorded if r["status"] == "sent" and r["ses_message_id"] not in SEEN_MAILS]
    check(not lost, f"{len(lost)} mail(s) recorded as sent that moto never got: {lost[:3]}")
    FIG.mails_checked = len(SEEN_MAILS)
    log(f"  {len(SEEN_MAILS)} mails in moto over the run, {len(recorded)} recorded, "
        f"{FIG.duplicate_mails} twice ({len(FAULT_JOBS)} jobs ran under database kills), none lost")


# --- phase: schemathesis -------------------------------------------------------------------------


def phase_schemathesis(fuzz: Tenant) -> None:
    """The OpenAPI file fuzzed against the stack (positive and negative cases, stateful
    sequences): no 5xx, no answer outside the documented statuses, content types, headers and
    schemas, and owner routes refuse requests without valid credentials (ignored_auth). As the
    owner of a tenant of its own: it changes settings, hours, services and staff and erases
    contacts, which must not move the ground under the other phases' tenants."""
    report = RUN_DIR / "schemathesis.json"
    examples, budget = (100, 420) if LONG else (30, 150)
    command = ["schemathesis", "run", str(ROOT / "openapi.json"), "--url", API,
               "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                           "response_headers_conformance,response_schema_conformance,ignored_auth",
               "--max-examples", str(examples), "--max-time", str(budget), "--workers", "2",
               "--request-timeout", "60", "--seed", str(SEED), "--no-shrink", "--suppress-health-check", "all",
               "--warnings", "off", "--report", "json", "--report-json-path", str(report),
               # The fuzzed tenant's owner token, so owner routes get past authentication.
               "-H", f"Authorization: Bearer {fuzz.token}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(HERE)}
    # Run from the run's scratch directory: schemathesis and Hypothesis keep caches in the
    # working directory (.schemathesis/, .hypothesis/), which must not land in the repository.
    out = subprocess.run(command, capture_output=True, text=True, timeout=budget + 300, cwd=RUN_DIR, env=env)
    (RUN_DIR / "schemathesis.log").write_text(out.stdout + out.stderr)
    cases, failures, errors = 0, None, []
    try:
        data = json.loads(report.read_text())
        cases = int(data["test_cases"]["generated"])
        failures, errors = data["failures"], data["errors"]
    except (OSError, ValueError, KeyError, TypeError):
        found = re.search(r"(\d+) generated", out.stdout)
        cases = int(found.group(1)) if found else 0
    FIG.schemathesis_cases += cases
    FIG.requests += cases
    tail = "\n".join(out.stdout.strip().splitlines()[-25:])
    if out.returncode != 0 and failures == [] and errors:
        # Schemathesis' own trouble (a Hypothesis internal error while generating), with no
        # check failed on any answer: noted, not failed.
        FIG.notes.append(f"schemathesis hit {sum(int(e.get('count', 1)) for e in errors)} internal error(s) of its "
                         f"own ({', '.join(str(e.get('title')) for e in errors)}); no check failed")
    else:
        check(out.returncode == 0,
              f"schemathesis found problems (exit {out.returncode}; {RUN_DIR}/schemathesis.log):\n{tail}")
    check(cases > 0, "schemathesis ran no case")
    resent = RUN_DIR / "emulator-500s.txt"
    if resent.exists():
        lines = resent.read_text().splitlines()
        FIG.notes.append(f"cargo lambda watch answered its own 500 to {len(lines)} schemathesis GET(s), each sent "
                         f"again and judged by that answer: {'; '.join(lines[:5])}")
    log(f"  schemathesis: {cases} cases, exit {out.returncode}")


# --- phase: rate limit ---------------------------------------------------------------------------


def phase_ratelimit(solo: Tenant) -> None:
    """The second stack runs book-slot with the deployed default (20 per client address and
    minute, counted in Postgres across processes): a burst of 45 gets exactly 20 through."""
    if not LIMITED.port:
        log("  no rate-limited stack (RELIABILITY_LIMITED_API unset): skipped")
        return
    # One fixed window: start early in a minute, so the burst cannot straddle two.
    into = time.time() % 60
    if into > 30:
        time.sleep(61 - into)
    starts = free_starts(solo, "trim", 45)
    reqs = [booking(solo, "trim", s, "limited") for s in starts]

    def one(req: Req) -> Resp:
        return send(req, http.client.HTTPConnection(LIMITED.hostname, LIMITED.port, timeout=120))

    with ThreadPoolExecutor(45) as pool:
        answers = list(pool.map(one, reqs))
    limited = [r for r in answers if r.status == 429]
    passed = [r for r in answers if r.status != 429]
    check(len(passed) == 20 and len(limited) == 25,
          f"45 bookings at a limit of 20/min: {Counter(r.status for r in answers)}")
    for r in limited:
        expect_problem(r, 429, "rate_limited", "over the limit")
        wait = r.headers.get("retry-after", "")
        check(wait.isdigit() and 1 <= int(wait) <= 60, f"Retry-After {wait!r}")
    for r in passed:
        check(r.status == 201, f"under the limit: {r.brief()}")
    landed = scalar("SELECT count(*) FROM contacts WHERE email IN (" + ",".join(lit(r.req.tag["email"]) for r in limited) + ")")
    check(landed == 0, f"{landed} rate-limited request(s) still booked")
    log(f"  45 at once against a limit of 20/min: {dict(Counter(r.status for r in answers))}")


# --- phase: logs ---------------------------------------------------------------------------------


def phase_logs() -> None:
    text = "".join(p.read_text(errors="replace") for p in WATCH_LOGS if p.exists())
    addresses = re.findall(rf"([^\s\"'<>@]+)@{re.escape(CLIENT_DOMAIN)}", text)
    clear = [a for a in addresses if not re.fullmatch(r".?\*\*\*", a)]
    check(not clear, f"{len(clear)} client address(es) in clear in the logs, e.g. {clear[:3]}")
    panics = re.findall(r"panicked at ([^\n]*)\n([^\n]*)", text)
    # lambda_runtime panics when cargo lambda watch hands an instance a /next answer without a
    # request id (its own bookkeeping, after an instance it was tracking went away): the
    # emulator's, not the functions' doing. Any other panic fails the run.
    emulator = [p for p in panics if "lambda-runtime-aws-request-id" in p[1]]
    ours = [p for p in panics if p not in emulator]
    check(not ours, f"{len(ours)} panic(s) in the functions' logs: {ours[:3]}")
    if emulator:
        FIG.notes.append(f"{len(emulator)} function process(es) panicked in lambda_runtime on a /next answer "
                         "without a request id from cargo lambda watch (emulator)")
    errors = len(re.findall(r'"level":"ERROR"', text))
    log(f"  logs: {len(text) // 1024} KiB, {len(addresses)} masked client addresses, {len(clear)} in clear, "
        f"{errors} ERROR lines")


# --- main ----------------------------------------------------------------------------------------

PHASES = ["storms", "idempotency", "races", "hostile", "auth", "ratelimit", "dbfaults", "sesfaults", "schemathesis",
          "logs"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated phases (default: all)")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else PHASES
    unknown = set(chosen) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {unknown}")
    started = time.monotonic()
    log(f"API {API}, seed {SEED}, {'long' if LONG else 'default'} run, phases: {', '.join(chosen)}")
    moto_start()
    solo, trio, fuzz = load_tenant("solo"), load_tenant("trio"), load_tenant("fuzz")
    hostile = {}
    try:
        for phase in PHASES:
            if phase not in chosen:
                continue
            PHASE[0] = phase
            t0 = time.monotonic()
            log(f"{phase}")
            if phase == "storms":
                phase_storms(solo, trio)
            elif phase == "idempotency":
                phase_idempotency(solo, trio)
            elif phase == "races":
                phase_races(trio)
            elif phase == "hostile":
                hostile = phase_hostile(solo, trio)
            elif phase == "auth":
                phase_auth(solo, trio)
            elif phase == "ratelimit":
                phase_ratelimit(solo)
            elif phase == "dbfaults":
                phase_dbfaults(solo, trio)
            elif phase == "sesfaults":
                phase_sesfaults(solo, trio)
                if hostile:
                    check_raw_mails(hostile, SEEN_MAILS)
            elif phase == "schemathesis":
                phase_schemathesis(fuzz)
            elif phase == "logs":
                phase_logs()
            log(f"{phase}: {time.monotonic() - t0:.0f}s")
        PHASE[0] = "final"
        resolve_stuck_keys()
        if "sesfaults" not in chosen and hostile:
            snapshot_moto()
            check_raw_mails(hostile, SEEN_MAILS)
        check_capacity([solo, trio])
        check_integrity()
    except Exception as error:  # a crash of the suite itself is a failure too
        import traceback
        traceback.print_exc()
        check(False, f"the suite crashed: {error!r}")
    finally:
        if MOTO_PROC:
            moto_stop()
    jobs = scalar("SELECT count(*) FROM jobs")
    summary = (f"reliability: {FIG.requests} requests ({FIG.bookings} bookings), {jobs} jobs, "
               f"{FIG.overbookings} overbookings, {FIG.kills} database kills ({FIG.backends_killed} backends, "
               f"{FIG.answered_503} answered 503), {FIG.moto_outages} SES outages, {FIG.mails_checked} mails "
               f"checked ({FIG.duplicate_mails} sent twice), {FIG.schemathesis_cases} schemathesis cases, {len(FIG.failures)} failures, "
               f"{time.monotonic() - started:.0f}s")
    print(summary, flush=True)
    (RUN_DIR / "summary.txt").write_text(summary + "\n" + "\n".join(FIG.failures) + "\n")
    (RUN_DIR / "mails.json").write_text(json.dumps(SEEN_MAILS))
    for note in FIG.notes:
        print(f"note: {note}", flush=True)
    if FIG.failures:
        print(f"{len(FIG.failures)} failure(s):", *FIG.failures[:40], sep="\n  ", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
