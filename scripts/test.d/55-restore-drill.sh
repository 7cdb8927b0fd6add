# shellcheck shell=bash
# The restore drill (scripts/restore-drill) on a database with demo data: migrated, the two demo
# tenants loaded, and clients, jobs and outbox mails of awkward content (quotes, newlines, emoji,
# NULLs) beside them; the drill must find the restored copy identical. Then once more with the
# restored copy changed by one row, where the drill must fail: a drill that cannot fail proves
# nothing. Sourced by scripts/test (ROOT, DATABASE_URL and `step` are set).

_drill_db="restore_drill_$$"

# DATABASE_URL with its database name replaced by $1 (any ?query kept).
_drill_url() {
	local base=${DATABASE_URL%%\?*} query=""
	[[ $DATABASE_URL == *\?* ]] && query="?${DATABASE_URL#*\?}"
	printf '%s/%s%s' "${base%/*}" "$1" "$query"
}

_drill_demo_data() {
	local url
	url="$(_drill_url "$_drill_db")"
	psql_url "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $_drill_db WITH (FORCE)" -c "CREATE DATABASE $_drill_db"
	local admin=(cargo run -q -p booking-admin --)
	DATABASE_URL="$url" "${admin[@]}" migrate >/dev/null
	local tenant
	for tenant in "$ROOT"/infrastructure/demo-*.json; do
		DATABASE_URL="$url" "${admin[@]}" tenant load "$tenant" >/dev/null
	done
	# 300 clients with a job and its mail each, per service; a few with the awkward content.
	psql_url "$url" <<-'SQL'
		INSERT INTO contacts (tenant_id, email, name, phone)
		SELECT s.tenant_id, format('client%s-%s@example.com', g, left(s.id::text, 8)),
		       CASE WHEN g % 50 = 0 THEN E'Zoë O''Brien\n"the second" 🎉' ELSE 'Client ' || g END,
		       CASE WHEN g % 3 = 0 THEN NULL ELSE '+1 555 ' || lpad(g::text, 4, '0') END
		FROM services s CROSS JOIN generate_series(1, 300) AS g;
		INSERT INTO jobs (tenant_id, service_id, contact_id, title, starts_at, ends_at, status,
		                  notes, source, changed_by, client_name, client_phone)
		SELECT s.tenant_id, s.id, c.id, s.name,
		       timestamptz '2026-12-07 14:00+00' + (row_number() OVER (ORDER BY c.id)) * interval '1 hour',
		       timestamptz '2026-12-07 14:45+00' + (row_number() OVER (ORDER BY c.id)) * interval '1 hour',
		       'scheduled', CASE WHEN c.phone IS NULL THEN E'tab\there; back\\slash' END,
		       'public', 'public-booking', c.name, c.phone
		FROM services s JOIN contacts c ON c.tenant_id = s.tenant_id
		     AND c.email LIKE '%-' || left(s.id::text, 8) || '@example.com';
		INSERT INTO emails (tenant_id, job_id, kind, status, attempts, next_attempt_at, last_error)
		SELECT tenant_id, id, 'client-booked', 'pending', 1, starts_at - interval '1 day',
		       'SES said: "Throttling"'
		FROM jobs;
	SQL
}

_drill_runs() {
	local url
	url="$(_drill_url "$_drill_db")"
	_drill_demo_data || return 1
	"$ROOT/scripts/restore-drill" "$url" || return 1
	log "restore drill: once more with one job changed in the restored copy (must fail)"
	if RESTORE_DRILL_TAMPER_SQL="UPDATE jobs SET title = title || '.' WHERE id = (SELECT min(id) FROM jobs)" \
		"$ROOT/scripts/restore-drill" "$url" >/dev/null 2>&1; then
		printf '\033[1;31mrestore drill: a changed restored copy passed the drill\033[0m\n' >&2
		return 1
	fi
}
on_exit "$(printf 'psql_url "$DATABASE_URL" -c %q' "DROP DATABASE IF EXISTS $_drill_db WITH (FORCE)")"
step "restore drill (dump, restore into a fresh cluster, compare every table)" _drill_runs

unset _drill_db
