# shellcheck shell=bash disable=SC2034 # globals here are read by the scripts that source this
# Helpers sourced by scripts/test, scripts/dev and scripts/tenant. Not meant to be run directly.
#
#   ensure_venv              python venv with cargo-lambda, sam, cfn-lint, moto, schemathesis, icalendar; .venv/bin first on PATH
#   ensure_checkov           checkov (pinned) in a venv of its own; sets CHECKOV to its binary
#   ensure_postgres PURPOSE  throwaway Postgres (PURPOSE = dev | test | bench) unless DATABASE_URL is set
#   ensure_moto              moto_server (SES v2 emulator) with a verified sender, unless MOTO_URL is set
#   on_exit 'command'        register a cleanup; one EXIT trap runs them all, last registered first
#   psql_url URL ...         psql against a database URL
#
# Everything that needs no cleanup is idempotent; reruns are fast.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$ROOT/.local" # git-ignored scratch space: clusters, logs, locks
VENV_MARKER_VERSION=v4   # bump (and the package list) to force a venv refresh
# icalendar: the independent .ics parser of the owner's-day test (scripts/ics_check.py).
# standardwebhooks: the reference verifier of the webhook tests (scripts/webhook_check.py).
VENV_PACKAGES=(cargo-lambda aws-sam-cli cfn-lint 'moto[server]' schemathesis icalendar standardwebhooks)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() {
	printf '\033[1;31merror:\033[0m %s\n' "$*" >&2
	exit 1
}

# --- cleanup registry ---------------------------------------------------------------------------
# Several helpers start things that must be stopped. Each registers a command string; the single
# EXIT trap runs them in reverse order and never lets one failure skip the others.
# EXIT_STATUS holds the script's exit status while the cleanups run.
_CLEANUPS=()
EXIT_STATUS=0

on_exit() { _CLEANUPS+=("$1"); }

_run_cleanups() {
	local status=$? i
	EXIT_STATUS=$status
	trap - EXIT
	set +e
	for ((i = ${#_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${_CLEANUPS[i]}"
	done
	exit "$status"
}

trap _run_cleanups EXIT
# Turn signals into a normal exit so the EXIT trap runs. (Background jobs of a non-interactive
# shell ignore SIGINT, so the cleanups are what stops them.)
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- small utilities ----------------------------------------------------------------------------

# Succeeds when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the first free port at or after $1.
free_port() {
	local port=$1
	while port_in_use "$port"; do
		port=$((port + 1))
		((port < $1 + 100)) || die "no free port in $1..$port"
	done
	echo "$port"
}

# Runs "$@" as root, through sudo when we are not root.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

apt_install() {
	command -v apt-get >/dev/null || die "please install: $* (no apt-get here)"
	log "installing $* with apt-get"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# need_cmd COMMAND [DEBIAN PACKAGE]: installs the package when the command is missing.
need_cmd() {
	command -v "$1" >/dev/null || apt_install "${2:-$1}"
}

# Holds an exclusive lock on $LOCAL_DIR/$1.lock until the calling script exits.
take_lock() {
	mkdir -p "$LOCAL_DIR"
	command -v flock >/dev/null || return 0
	local fd
	exec {fd}>"$LOCAL_DIR/$1.lock"
	flock "$fd"
}

# --- python venv --------------------------------------------------------------------------------

ensure_venv() {
	local venv="$ROOT/.venv"
	local marker="$venv/.installed-$VENV_MARKER_VERSION"
	if [[ ! -e $marker ]]; then
		take_lock venv
		if [[ ! -e $marker ]]; then # another run may have finished it while we waited
			local python
			python="$(command -v python3)" || apt_install python3 python3-venv
			python="$(command -v python3)"
			if [[ ! -x $venv/bin/python3 ]]; then
				log "creating $venv"
				"$python" -m venv "$venv" 2>/dev/null || {
					rm -rf "$venv"
					apt_install python3-venv
					"$python" -m venv "$venv"
				}
			fi
			log "installing ${VENV_PACKAGES[*]} into .venv (first run takes a few minutes)"
			"$venv/bin/python3" -m pip install --disable-pip-version-check -q --upgrade pip
			"$venv/bin/python3" -m pip install --disable-pip-version-check -q "${VENV_PACKAGES[@]}"
			touch "$marker"
		fi
	fi
	export VIRTUAL_ENV="$venv"
	# First on PATH: sam build finds zig (for cargo-lambda) through the first python3 on PATH.
	if [[ $PATH != "$venv/bin:"* ]]; then
		export PATH="$venv/bin:$PATH"
	fi
}

# checkov pins its own versions of boto3 and friends, which would fight aws-sam-cli's in .venv.
CHECKOV_VERSION=3.3.30
ensure_checkov() {
	local venv="$ROOT/.venv-checkov"
	local marker="$venv/.installed-checkov-$CHECKOV_VERSION"
	if [[ ! -e $marker ]]; then
		take_lock venv-checkov
		if [[ ! -e $marker ]]; then
			command -v python3 >/dev/null || apt_install python3 python3-venv
			if [[ ! -x $venv/bin/python3 ]]; then
				log "creating $venv"
				python3 -m venv "$venv" 2>/dev/null || {
					rm -rf "$venv"
					apt_install python3-venv
					python3 -m venv "$venv"
				}
			fi
			log "installing checkov $CHECKOV_VERSION into .venv-checkov (first run takes a minute)"
			"$venv/bin/python3" -m pip install --disable-pip-version-check -q "checkov==$CHECKOV_VERSION"
			touch "$marker"
		fi
	fi
	CHECKOV="$venv/bin/checkov"
}

# --- postgres -----------------------------------------------------------------------------------

PG_BIN=""

# Newest /usr/lib/postgresql/*/bin (Debian's layout), or nothing.
_pg_debian_bin() { { ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true; } | sort -V | tail -1; }

# Finds (or installs) the PostgreSQL server binaries and sets PG_BIN.
ensure_pg_bin() {
	[[ -n $PG_BIN ]] && return 0
	local dir
	dir="$(_pg_debian_bin)"
	if [[ -z $dir ]] && command -v pg_ctl >/dev/null; then
		dir="$(dirname "$(command -v pg_ctl)")"
	fi
	if [[ -z $dir ]]; then
		apt_install postgresql
		dir="$(_pg_debian_bin)"
	fi
	[[ -x $dir/pg_ctl ]] || die "PostgreSQL binaries not found"
	PG_BIN="$dir"
}

# psql_url URL [psql args...]: quiet, stops at the first error.
psql_url() {
	local url=$1
	shift
	if command -v psql >/dev/null; then
		psql "$url" -X -q -v ON_ERROR_STOP=1 "$@"
	else
		ensure_pg_bin
		"$PG_BIN/psql" "$url" -X -q -v ON_ERROR_STOP=1 "$@"
	fi
}

# Postgres refuses to run as root: as root, run the server tools as the `postgres` user.
PG_USER=""
_pg_as_owner() {
	if [[ -n $PG_USER ]]; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

_pg_prepare_user() {
	[[ $(id -u) -eq 0 ]] || return 0
	PG_USER=postgres
	if ! id -u postgres >/dev/null 2>&1; then
		log "creating system user postgres"
		useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
	fi
}

# Stops the cluster in data dir $1 (if running) and, with "remove", deletes it.
_pg_stop() {
	local data=$1 mode=${2:-keep}
	if [[ -f $data/postmaster.pid ]]; then
		_pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [[ $mode == remove ]]; then
		rm -rf "$data"
	fi
}

# Succeeds when process $1 is alive (a zombie is not).
pid_alive() { kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]; }

# Cleans up after runs that were killed before their cleanups ran: test clusters and moto servers
# carry the pid of the script that started them in their names.
sweep_stale() {
	local path pid
	for path in "$LOCAL_DIR"/pg-test-* "$LOCAL_DIR"/pg-bench-* "$LOCAL_DIR"/moto-*.pid; do
		[[ -e $path ]] || continue
		pid="${path##*-}"
		pid="${pid%.pid}"
		if [[ ! $pid =~ ^[0-9]+$ ]] || pid_alive "$pid"; then continue; fi
		case $path in
		*/pg-test-* | */pg-bench-*)
			ensure_pg_bin
			_pg_stop "$path" remove
			;;
		*.pid)
			local server
			server="$(cat "$path" 2>/dev/null || true)"
			if [[ $server =~ ^[0-9]+$ ]] && grep -qs moto_server "/proc/$server/cmdline"; then
				kill "$server" 2>/dev/null || true
			fi
			rm -f "$path" "${path%.pid}.log"
			;;
		esac
	done
}

# ensure_postgres PURPOSE — PURPOSE is dev (data kept between runs), test (fresh, deleted on exit)
# or bench (fresh, deleted on exit, and durable like production: fsync and synchronous commits on).
# Exports DATABASE_URL=postgres://postgres@127.0.0.1:PORT/booking. A DATABASE_URL already set wins
# (then PG_REUSED=1).
PG_REUSED=0
ensure_postgres() {
	local purpose=${1:?ensure_postgres needs a purpose: dev, test or bench}
	if [[ -n ${DATABASE_URL:-} ]]; then
		PG_REUSED=1
		log "using the DATABASE_URL from the environment"
		return 0
	fi
	ensure_pg_bin
	_pg_prepare_user
	mkdir -p "$LOCAL_DIR"
	chmod 755 "$LOCAL_DIR"

	local data default_port keep
	case $purpose in
	dev) data="$LOCAL_DIR/pg-dev" default_port=55432 keep=keep ;;
	test)
		sweep_stale
		data="$LOCAL_DIR/pg-test-$$" default_port=55433 keep=remove # one per run: no collisions
		;;
	bench)
		sweep_stale
		data="$LOCAL_DIR/pg-bench-$$" default_port=55434 keep=remove
		;;
	*) die "ensure_postgres: unknown purpose '$purpose'" ;;
	esac

	# The postgres user must reach the data dir; a checkout under /root, say, is not reachable.
	if [[ -n $PG_USER ]] && ! runuser -u "$PG_USER" -- test -x "$LOCAL_DIR"; then
		data="$(mktemp -u "/tmp/booking-pg-$purpose.XXXXXX")"
		keep=remove
		warn "$LOCAL_DIR is not reachable by $PG_USER; the cluster lives in $data for this run only"
	fi
	if [[ $keep == remove ]]; then
		on_exit "$(printf '_pg_stop %q remove' "$data")"
	fi

	if [[ ! -f $data/PG_VERSION ]]; then
		rm -rf "$data"
		mkdir -p "$data"
		chmod 700 "$data"
		if [[ -n $PG_USER ]]; then chown "$PG_USER:" "$data"; fi
		log "initdb $data"
		_pg_as_owner "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C \
			--no-sync --no-instructions >/dev/null
		{
			echo "# booking: per-run settings (port, socket dir) are in run.conf"
			echo "listen_addresses = '127.0.0.1'"
			echo "max_connections = 200"
			echo "include_if_exists = 'run.conf'"
			if [[ $purpose == test ]]; then
				# Throwaway data: durability buys nothing.
				echo "fsync = off"
				echo "synchronous_commit = off"
				echo "full_page_writes = off"
			fi
		} >>"$data/postgresql.conf"
	fi

	local port
	if _pg_as_owner "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		# Another scripts/dev already runs this cluster: share it; stopping it is that run's job.
		port="$(sed -n 4p "$data/postmaster.pid")"
		log "reusing the running $purpose cluster on port $port"
	else
		# Unix sockets live in the data dir, unless its path is too long for a socket name.
		local sockdir="$data"
		if ((${#data} > 90)); then
			sockdir="$(mktemp -d /tmp/booking-pgsock.XXXXXX)"
			if [[ -n $PG_USER ]]; then chown "$PG_USER:" "$sockdir"; fi
		fi
		if [[ $keep == keep ]]; then
			on_exit "$(printf '_pg_stop %q keep' "$data")"
		fi
		# A port nobody listens on can still be taken as some client connection's local port (the
		# ephemeral range covers ours): then the bind fails, and the next free port is tried.
		local try next=$default_port
		for try in 1 2 3 4 5; do
			port="$(free_port "$next")"
			printf "port = %s\nunix_socket_directories = '%s'\n" "$port" "$sockdir" |
				_pg_as_owner tee "$data/run.conf" >/dev/null
			log "starting postgres ($purpose) on 127.0.0.1:$port"
			if _pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null; then
				break
			fi
			if ((try == 5)) || ! tail -n 5 "$data/server.log" | grep -q "Address already in use"; then
				tail -n 30 "$data/server.log" >&2 || true
				die "postgres did not start"
			fi
			warn "port $port was taken meanwhile; trying another"
			next=$((port + 1))
		done
	fi

	local i
	for ((i = 0; i < 60; i++)); do
		if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then break; fi
		sleep 0.5
	done
	"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres || die "postgres is not ready on port $port"

	local admin_url="postgres://postgres@127.0.0.1:$port/postgres"
	if [[ -z $(psql_url "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = 'booking'") ]]; then
		psql_url "$admin_url" -c "CREATE DATABASE booking"
	fi
	export DATABASE_URL="postgres://postgres@127.0.0.1:$port/booking"
}

# Drops every database whose name is LIKE $1 (e.g. 'test\_%'), through DATABASE_URL.
drop_databases_like() {
	local pattern=$1 name
	while IFS= read -r name; do
		[[ -n $name ]] || continue
		psql_url "$DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
	done < <(psql_url "$DATABASE_URL" -tAc "SELECT datname FROM pg_database WHERE datname LIKE '$pattern'")
}

# --- moto (local SES v2) ------------------------------------------------------------------------

SES_SENDER_DEFAULT="bookings@example.com"

# Starts moto_server (unless MOTO_URL is set), points the AWS SDK's SES v2 client at it and verifies
# the sender identity. Exports MOTO_URL, AWS_ENDPOINT_URL_SESV2 (unless set), region and dummy keys.
ensure_moto() {
	export AWS_REGION="${AWS_REGION:-us-east-1}"
	export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}" # what boto3 (sam, moto) reads
	export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
	export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"

	need_cmd curl
	if [[ -n ${MOTO_URL:-} ]]; then
		log "using the moto server at $MOTO_URL"
	else
		command -v moto_server >/dev/null || die "moto_server not found: call ensure_venv first"
		mkdir -p "$LOCAL_DIR"
		local port logfile pid
		port="$(free_port "${MOTO_PORT:-5055}")"
		logfile="$LOCAL_DIR/moto-$$.log"
		log "starting moto on 127.0.0.1:$port"
		sweep_stale
		moto_server -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
		pid=$!
		echo "$pid" >"${logfile%.log}.pid"
		on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f $(printf '%q %q' "$logfile" "${logfile%.log}.pid")"
		export MOTO_URL="http://127.0.0.1:$port"
		local i
		for ((i = 0; i < 120; i++)); do
			curl -sf -o /dev/null "$MOTO_URL/moto-api/data.json" && break
			kill -0 "$pid" 2>/dev/null || {
				cat "$logfile" >&2
				die "moto_server exited"
			}
			sleep 0.25
		done
		curl -sf -o /dev/null "$MOTO_URL/moto-api/data.json" || die "moto_server does not answer on $MOTO_URL"
	fi

	if [[ -z ${AWS_ENDPOINT_URL_SESV2:-} ]]; then
		export AWS_ENDPOINT_URL_SESV2="$MOTO_URL"
	elif [[ $AWS_ENDPOINT_URL_SESV2 != "$MOTO_URL" ]]; then
		warn "AWS_ENDPOINT_URL_SESV2=$AWS_ENDPOINT_URL_SESV2 is kept; moto runs at $MOTO_URL"
	fi

	# moto's server picks the emulated service from the SigV4 credential scope (service "ses" and a
	# /v2/ path = SES v2); the signature itself is not checked.
	local sender="${SES_FROM_ADDRESS:-$SES_SENDER_DEFAULT}" out
	out="$(curl -s -w '\n%{http_code}' -X POST "$MOTO_URL/v2/email/identities" \
		-H 'content-type: application/json' \
		-H "authorization: AWS4-HMAC-SHA256 Credential=$AWS_ACCESS_KEY_ID/20260101/$AWS_REGION/ses/aws4_request, SignedHeaders=host, Signature=0" \
		-d "{\"EmailIdentity\":\"$sender\"}")"
	case "${out##*$'\n'}" in
	200) ;;
	*) [[ $out == *AlreadyExists* ]] || die "moto: CreateEmailIdentity for $sender failed: $out" ;;
	esac
}
