# shellcheck shell=bash
# The reliability suite, sourced by scripts/test after the tests (ROOT is the repository, `step`
# records a failure and carries on): the booking promises proven through the HTTP layer of the
# local stack (`cargo lambda watch`, 4 processes per function) — booking storms at capacity-1 and
# capacity-3 slots, confirm/decline races, idempotent repeats, database kills, an SES outage and
# the relay, hostile input, schemathesis against openapi.json, forged tokens, tenant isolation,
# the booking rate limit, and the logs checked for client addresses. See scripts/reliability/run.
# Its own Postgres cluster, moto and ports; about 7 minutes on 2 cores (`scripts/test --long`:
# more bursts, fault rounds and fuzzing). BOOKING_RELIABILITY=0 skips it.

if [[ ${BOOKING_RELIABILITY:-1} != 0 ]]; then
	step "reliability over HTTP (storms, faults, fuzzing)" "$ROOT/scripts/reliability/run"
fi
