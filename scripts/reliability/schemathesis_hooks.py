"""Schemathesis hooks for the reliability suite (loaded through SCHEMATHESIS_HOOKS).

cargo lambda watch turns each HTTP request into an API Gateway event (JSON, so text): a body
that is not UTF-8, or a header value with bytes beyond ASCII, makes the emulator itself answer
500 before any function runs. Such cases test the emulator, not the functions, so they are not
sent; suite.py's hostile phase sends both once and records what the emulator does.

The emulator also answers its own 500 (text/plain, an httpstatuses.com problem) when it cuts
off a large response body of a function under load (see suite.py's `emulator_500`: it answers
the function's /response call before reading that body). A GET answered so is sent once more
and judged by the second answer; each such resend is listed in RUN_DIR/emulator-500s.txt,
which suite.py reports. A function's own 500 is problem+json, never this, so it still fails.
"""

import os
from pathlib import Path

import requests
import schemathesis
from schemathesis.core.transport import Response


def _text(value) -> bool:
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_case(ctx, case):
    headers = case.headers or {}
    if any(isinstance(v, str) and not v.isascii() for v in headers.values()):
        return False
    return _text(case.body)


def _emulator_500(response) -> bool:
    content_type = ",".join(response.headers.get("content-type", []))
    return (response.status_code == 500 and b"httpstatuses.com" in (response.content or b"")
            and "problem" not in content_type)


@schemathesis.hook
def after_call(ctx, case, response):
    if not _emulator_500(response) or response.request.method != "GET":
        return
    again = None
    with requests.Session() as session:
        for _ in range(2):
            sent = session.send(response.request.copy(), timeout=60, allow_redirects=False)
            again = Response.from_requests(sent, verify=response.verify)
            if not _emulator_500(again):
                break
    run_dir = os.environ.get("RELIABILITY_RUN_DIR")
    if run_dir:
        with open(Path(run_dir) / "emulator-500s.txt", "a", encoding="utf-8") as out:
            out.write(f"{response.request.method} {response.request.path_url[:80]} -> {again.status_code}\n")
    for name in Response.__slots__:
        if hasattr(again, name):
            setattr(response, name, getattr(again, name))
