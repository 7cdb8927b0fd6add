"""Schemathesis hooks for the reliability suite (loaded through SCHEMATHESIS_HOOKS).

cargo lambda watch turns each HTTP request into an API Gateway event (JSON, so text): a body
that is not UTF-8, or a header value with bytes beyond ASCII, makes the emulator itself answer
500 before any function runs. Such cases test the emulator, not the functions, so they are not
sent; suite.py's hostile phase sends both once and records what the emulator does.
"""

import schemathesis


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
