//! The tenants' suppression lists: client addresses SES reported as unreachable (a permanent
//! bounce) or unwilling (a complaint). A suppressed address gets no more client mail from the
//! tenant: the outbox's leases mark such a mail `suppressed` instead of handing it to a sender
//! (see `outbox::SUPPRESSED`), and the owner is told once per job
//! ([`booking_domain::MailKind::OwnerClientUnreachable`]).
//!
//! An address is matched by the SHA-256 of its lower-cased text, computed in SQL
//! (`sha256(convert_to(lower(address), 'UTF8'))`, as `mail_recipient_turns` keys it); the
//! lower-cased address itself is kept beside it for the owner's list, and an erasure of the
//! contact may clear it while the hash keeps the address suppressed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use booking_domain::MailKind;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionReason {
    /// SES reported a permanent bounce: the address does not exist or refuses all mail.
    Bounce,
    /// The recipient marked a mail as spam.
    Complaint,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
        }
    }
}

/// What SES reported about one mail it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback<'a> {
    /// The SES message id of the mail (its outbox row keeps it).
    pub ses_message_id: &'a str,
    pub reason: SuppressionReason,
    /// The addresses reported (as SES gives them; they are trimmed and lower-cased here).
    pub recipients: Vec<String>,
    pub at: DateTime<Utc>,
}

/// What recording a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// No client mail has this message id (another system's mail, an owner mail, or a mail
    /// whose row is gone): nothing to suppress.
    UnknownMail,
    /// The addresses newly suppressed (0: all were already), and whether the owner's notice
    /// for the mail's job was queued now (it is queued once per job).
    Suppressed { added: usize, owner_told: bool },
}

#[derive(QueryableByName)]
struct RecordedRow {
    #[diesel(sql_type = BigInt)]
    found: i64,
    #[diesel(sql_type = BigInt)]
    added: i64,
    #[diesel(sql_type = BigInt)]
    told: i64,
}

/// The client kinds, as SQL compares them: only client mail is suppressed.
pub(crate) fn client_kinds() -> Vec<&'static str> {
    MailKind::ALL
        .into_iter()
        .filter(|kind| kind.is_for_client())
        .map(MailKind::as_str)
        .collect()
}

/// Suppresses the reported addresses for the tenant of the client mail `feedback` names, and
/// queues the owner's notice for that mail's job (once per job), in one statement. Replaying
/// the same report changes nothing.
#[tracing::instrument(level = "trace", name = "suppression record", skip_all)]
pub async fn record(
    conn: &mut AsyncPgConnection,
    feedback: &Feedback<'_>,
    now: DateTime<Utc>,
) -> QueryResult<Recorded> {
    let recipients: Vec<String> = feedback
        .recipients
        .iter()
        .map(|address| address.trim().to_lowercase())
        .filter(|address| !address.is_empty() && address.chars().count() <= 320)
        .collect();
    let row: RecordedRow = diesel::sql_query(
        "WITH mail AS ( \
             SELECT tenant_id, job_id FROM emails \
             WHERE ses_message_id = $1 AND kind = ANY($2) LIMIT 1), \
         added AS ( \
             INSERT INTO suppressions (tenant_id, address_hash, email, reason, at) \
             SELECT DISTINCT ON (address) mail.tenant_id, \
                    sha256(convert_to(address, 'UTF8')), address, $4, $5 \
             FROM mail CROSS JOIN unnest($3::text[]) AS address \
             ON CONFLICT (tenant_id, address_hash) DO NOTHING \
             RETURNING 1), \
         told AS ( \
             INSERT INTO emails (tenant_id, job_id, kind, next_attempt_at, created_at) \
             SELECT tenant_id, job_id, 'owner-client-unreachable', $6, $6 FROM mail \
             WHERE cardinality($3::text[]) > 0 \
             ON CONFLICT DO NOTHING \
             RETURNING 1) \
         SELECT (SELECT count(*) FROM mail) AS found, (SELECT count(*) FROM added) AS added, \
                (SELECT count(*) FROM told) AS told",
    )
    .bind::<Text, _>(feedback.ses_message_id)
    .bind::<Array<Text>, _>(client_kinds())
    .bind::<Array<Text>, _>(&recipients)
    .bind::<Text, _>(feedback.reason.as_str())
    .bind::<Timestamptz, _>(feedback.at)
    .bind::<Timestamptz, _>(now)
    .get_result(conn)
    .await?;
    Ok(if row.found == 0 {
        Recorded::UnknownMail
    } else {
        Recorded::Suppressed {
            added: usize::try_from(row.added).unwrap_or(0),
            owner_told: row.told > 0,
        }
    })
}

/// One address on a tenant's list, as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Suppression {
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
}

/// Whether the tenant suppresses `email` (any case): its entry, for a client's export.
pub async fn of_address(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    email: &str,
) -> QueryResult<Option<Suppression>> {
    diesel::sql_query(
        "SELECT lower(trim($2)) AS email, reason, at FROM suppressions \
         WHERE tenant_id = $1 AND address_hash = sha256(convert_to(lower(trim($2)), 'UTF8'))",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Text, _>(email)
    .get_result(conn)
    .await
    .optional()
}

/// The tenant's suppressed addresses, newest first (erased ones, kept only as a hash, are not
/// listed).
pub async fn list(conn: &mut AsyncPgConnection, tenant_id: Uuid) -> QueryResult<Vec<Suppression>> {
    diesel::sql_query(
        "SELECT email, reason, at FROM suppressions \
         WHERE tenant_id = $1 AND email IS NOT NULL ORDER BY at DESC, email",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .load(conn)
    .await
}

/// Lifts the suppression of `email` for the tenant: its later mails go out again (those
/// already `suppressed` stay as they were). `false` when it was not suppressed.
pub async fn lift(conn: &mut AsyncPgConnection, tenant_id: Uuid, email: &str) -> QueryResult<bool> {
    let deleted = diesel::sql_query(
        "DELETE FROM suppressions WHERE tenant_id = $1 \
         AND address_hash = sha256(convert_to(lower(trim($2)), 'UTF8'))",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Text, _>(email)
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}
