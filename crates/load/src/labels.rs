//! Statement labels from the call sites: crates/repository runs each statement in a
//! `trace`-level span named for it ("weekly hours", "job insert", …), and this module's
//! subscriber keeps those spans — only theirs, and only while a [`Collecting`] guard lives, so
//! the latency measurements run with every span off, as the functions do. A statement no call
//! site names is labelled by its transaction keyword (`BEGIN`, `COMMIT`, … from diesel's
//! transaction manager), else by the start of its SQL.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::subscriber::Interest;
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::prelude::*;

use crate::Result;

static COLLECTING: AtomicBool = AtomicBool::new(false);

/// The spans that name statements: the repository's, and the load tool's own floor insert.
fn names_statements(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span()
        && (metadata.target().starts_with("booking_repository")
            || metadata.target().starts_with("booking_load"))
}

/// Installs the subscriber (once, at start).
pub fn install() -> Result<()> {
    let filter = dynamic_filter_fn(|metadata, _| {
        COLLECTING.load(Ordering::Relaxed) && names_statements(metadata)
    })
    .with_callsite_filter(|metadata| {
        if names_statements(metadata) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    });
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(filter))?;
    Ok(())
}

/// Keeps the statement spans on while it lives.
pub struct Collecting(());

impl Collecting {
    pub fn start() -> Self {
        COLLECTING.store(true, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        COLLECTING.store(false, Ordering::SeqCst);
    }
}

/// The statement span the caller runs in, if any.
pub fn current() -> Option<&'static str> {
    tracing::Span::current().metadata().map(|m| m.name())
}

/// The SQL of a statement as diesel's instrumentation shows it, without the bind values.
pub fn text(sql: &str) -> &str {
    sql.split(" -- binds:").next().unwrap_or_default()
}

/// The label of `sql`, issued now: see the module documentation.
pub fn of(sql: &str) -> String {
    let keyword = sql.split_whitespace().next().unwrap_or_default();
    const TRANSACTION: [&str; 5] = ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"];
    if let Some(known) = TRANSACTION
        .iter()
        .find(|known| keyword.eq_ignore_ascii_case(known))
    {
        return (*known).to_owned();
    }
    match current() {
        Some(name) => name.to_owned(),
        None => text(sql).chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_statements_are_named_by_their_keyword_and_others_by_their_start() {
        assert_eq!(of("BEGIN"), "BEGIN");
        assert_eq!(of("ROLLBACK TO SAVEPOINT x"), "ROLLBACK");
        assert_eq!(of("SELECT 1 -- binds: []"), "SELECT 1");
    }
}
