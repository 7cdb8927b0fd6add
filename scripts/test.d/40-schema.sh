# shellcheck shell=bash
# crates/repository/src/schema.rs is what `diesel print-schema` makes of the migrations
# (diesel.toml, with crates/repository/src/schema.patch for the joins over composite keys that
# print-schema cannot see). Diesel CLI migrates a fresh database with --locked-schema, which
# fails on any difference. To regenerate after a migration: the same `diesel migration run`
# without --locked-schema. Sourced by scripts/test (ROOT, DATABASE_URL and `step` are set).

DIESEL_CLI_VERSION=2.3.14
_diesel="$HOME/.cargo/bin/diesel"
if ! "$_diesel" --version 2>/dev/null | grep -q "$DIESEL_CLI_VERSION"; then
	# diesel_cli's postgres backend links libpq.
	dpkg -s libpq-dev >/dev/null 2>&1 || apt_install libpq-dev
	log "installing diesel_cli $DIESEL_CLI_VERSION (once, about 3 minutes)"
	cargo install --locked --quiet diesel_cli --version "$DIESEL_CLI_VERSION" \
		--no-default-features --features postgres
fi

# DATABASE_URL with its database name replaced by $1 (any ?query kept).
_url_for_database() {
	local base=${DATABASE_URL%%\?*} query=""
	[[ $DATABASE_URL == *\?* ]] && query="?${DATABASE_URL#*\?}"
	printf '%s/%s%s' "${base%/*}" "$1" "$query"
}

_schema_check() {
	local db="schema_check_$$" status=0
	psql_url "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
	(cd "$ROOT" && DATABASE_URL="$(_url_for_database "$db")" "$_diesel" migration run --locked-schema) || status=$?
	psql_url "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
	return "$status"
}
step "schema.rs is what diesel print-schema makes" _schema_check

unset _diesel
