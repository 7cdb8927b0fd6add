//! `booking-admin`: the operator's command line.
//!
//! ```text
//! booking-admin migrate                 apply pending migrations to DATABASE_URL
//! booking-admin tenant load FILE.json   create or update a tenant from a file (API.md format)
//! booking-admin tenant token SLUG       print an owner JWT (HS256, AUTH_JWT_SECRET) for local use
//! booking-admin tenant member add SLUG --issuer ISS --subject SUB
//!                                       let the identity provider's user SUB of ISS act for SLUG
//! booking-admin tenant member remove --issuer ISS --subject SUB
//! booking-admin mail redrive [--since WHEN]
//!                                       re-queue the mails given up (at or after WHEN: an RFC 3339
//!                                       instant or a YYYY-MM-DD date, UTC)
//! ```

mod import_file;
mod tenant_file;

use std::process::ExitCode;

use booking_repository::{
    DbPool, build_pool, catalog, members, outbox, run_migrations, tenant_setup,
};
use chrono::{DateTime, NaiveDate, Utc};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: booking-admin migrate | tenant load FILE.json | tenant token SLUG \
                     | tenant import SLUG FILE.csv [--skip-bad] \
                     | tenant member add SLUG --issuer ISS --subject SUB \
                     | tenant member remove --issuer ISS --subject SUB | mail redrive [--since WHEN]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["migrate"] => migrate().await,
        ["tenant", "load", file] => load(file).await,
        ["tenant", "token", slug] => token(slug).await,
        ["tenant", "import", slug, file] => import(slug, file, false).await,
        ["tenant", "import", slug, file, "--skip-bad"] => import(slug, file, true).await,
        [
            "tenant",
            "member",
            "add",
            slug,
            "--issuer",
            issuer,
            "--subject",
            subject,
        ] => add_member(slug, issuer, subject).await,
        [
            "tenant",
            "member",
            "remove",
            "--issuer",
            issuer,
            "--subject",
            subject,
        ] => remove_member(issuer, subject).await,
        ["mail", "redrive"] => redrive(None).await,
        ["mail", "redrive", "--since", when] => match parse_since(when) {
            Ok(since) => redrive(Some(since)).await,
            Err(error) => Err(error.into()),
        },
        _ => Err(USAGE.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("booking-admin: {error}");
            ExitCode::FAILURE
        }
    }
}

fn pool() -> Result<DbPool, Failure> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let ca_bundle = std::env::var_os("DATABASE_CA_BUNDLE").map(std::path::PathBuf::from);
    Ok(build_pool(&url, 1, ca_bundle.as_deref())?)
}

async fn migrate() -> Result<(), Failure> {
    let applied = run_migrations(pool()?.get().await?).await?;
    if applied.is_empty() {
        println!("migrations: up to date");
    } else {
        println!("migrations: applied {}", applied.join(", "));
    }
    Ok(())
}

async fn load(file: &str) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let definition = tenant_file::parse(&text).map_err(|e| format!("{file}: {e}"))?;
    let mut conn = pool()?.get().await?;
    let loaded = tenant_setup::load_tenant(&mut conn, &definition).await?;
    let output = serde_json::json!({
        "tenantId": loaded.tenant_id,
        "services": loaded.services,
        "staff": loaded.staff,
    });
    println!("{output}");
    Ok(())
}

/// `--since`: an RFC 3339 instant, or a date (its midnight, UTC).
/// `tenant import SLUG FILE.csv [--skip-bad]`: one transaction under the tenant guard; prints
/// a summary of counts a person can check against the old system.
async fn import(slug: &str, file: &str, skip_bad: bool) -> Result<(), Failure> {
    use booking_repository::changes::{self, ImportError};
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let report_bad = |bad: &[(u64, String)]| {
        for (line, why) in bad {
            eprintln!("{file}:{line}: {why}");
        }
    };
    let (rows, unreadable) = match import_file::parse(&text) {
        Ok(rows) => (rows, Vec::new()),
        Err(bad) if skip_bad => {
            report_bad(&bad);
            // Read again, keeping the good rows only.
            let good = import_file::parse_lenient(&text);
            (good, bad)
        }
        Err(bad) => {
            report_bad(&bad);
            return Err(format!(
                "{} unreadable row(s); nothing imported (--skip-bad skips them)",
                bad.len()
            )
            .into());
        }
    };
    let mut conn = pool()?.get().await?;
    match changes::import(&mut conn, slug, &rows, skip_bad, Utc::now()).await {
        Ok(report) => {
            report_bad(&report.skipped);
            let summary = serde_json::json!({
                "rows": rows.len() + unreadable.len(),
                "imported": report.imported,
                "alreadyImported": report.already_imported,
                "skipped": report.skipped.len() + unreadable.len(),
                "byStatus": report.by_status,
            });
            println!("{summary}");
            Ok(())
        }
        Err(ImportError::BadRows(bad)) => {
            report_bad(&bad);
            Err(format!(
                "{} bad row(s); nothing imported (--skip-bad skips them)",
                bad.len()
            )
            .into())
        }
        Err(ImportError::TenantNotFound) => Err(format!("no tenant with slug `{slug}`").into()),
        Err(ImportError::Database(error)) => Err(error.into()),
    }
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|date| date.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| {
            format!("--since `{text}` is neither an RFC 3339 instant nor a YYYY-MM-DD date")
        })
}

async fn redrive(since: Option<DateTime<Utc>>) -> Result<(), Failure> {
    let mut conn = pool()?.get().await?;
    let requeued = outbox::redrive_failed(&mut conn, since, Utc::now()).await?;
    println!("{}", serde_json::json!({ "requeued": requeued }));
    Ok(())
}

#[derive(serde::Serialize)]
struct OwnerClaims<'a> {
    sub: String,
    tenant_id: uuid::Uuid,
    tenant_slug: &'a str,
    iat: i64,
    exp: i64,
}

async fn token(slug: &str) -> Result<(), Failure> {
    let secret = std::env::var("AUTH_JWT_SECRET").map_err(|_| "AUTH_JWT_SECRET is not set")?;
    let mut conn = pool()?.get().await?;
    let tenant = catalog::tenant_by_slug(&mut conn, slug)
        .await?
        .ok_or_else(|| format!("no tenant with slug `{slug}`"))?;
    let now = chrono::Utc::now().timestamp();
    let claims = OwnerClaims {
        sub: format!("owner@{slug}"),
        tenant_id: tenant.id,
        tenant_slug: slug,
        iat: now,
        exp: now + 12 * 3600,
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?;
    println!("{token}");
    Ok(())
}

/// The issuer exactly as tokens carry it in `iss` (the authorizer's `JwtIssuer`).
fn checked_identity<'a>(issuer: &'a str, subject: &'a str) -> Result<(&'a str, &'a str), Failure> {
    let (issuer, subject) = (issuer.trim(), subject.trim());
    if !issuer.starts_with("https://") {
        return Err(format!("--issuer `{issuer}` is not an https:// issuer URL").into());
    }
    if subject.is_empty() {
        return Err("--subject is empty".into());
    }
    Ok((issuer, subject))
}

async fn add_member(slug: &str, issuer: &str, subject: &str) -> Result<(), Failure> {
    let (issuer, subject) = checked_identity(issuer, subject)?;
    let mut conn = pool()?.get().await?;
    let tenant_id = members::add(&mut conn, slug, issuer, subject)
        .await?
        .ok_or_else(|| format!("no tenant with slug `{slug}`"))?;
    let output = serde_json::json!({ "tenantId": tenant_id, "issuer": issuer, "subject": subject });
    println!("{output}");
    Ok(())
}

async fn remove_member(issuer: &str, subject: &str) -> Result<(), Failure> {
    let (issuer, subject) = checked_identity(issuer, subject)?;
    let mut conn = pool()?.get().await?;
    if !members::remove(&mut conn, issuer, subject).await? {
        return Err(format!("`{subject}` of {issuer} is no tenant's member").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_an_instant_or_a_date() {
        let midnight = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 0, 0, 0).single();
        assert_eq!(parse_since("2026-12-01").ok(), midnight);
        assert_eq!(parse_since("2026-12-01T01:00:00+01:00").ok(), midnight);
        assert!(parse_since("yesterday").is_err());
    }
}
