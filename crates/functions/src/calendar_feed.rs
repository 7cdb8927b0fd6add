//! Calendar feeds. `GET /calendar/{feedToken}` (public: the token is the credential) answers
//! the tenant's jobs as an RFC 5545 calendar with an `ETag`, and 304 to a matching
//! `If-None-Match`; every token that opens no feed — malformed, unknown, revoked — gets the
//! same 404. The owner's `POST /calendar-feeds` and `DELETE /calendar-feeds/{id}` are in
//! [`crate::owner_insights`].

use booking_domain::FeedToken;
use booking_domain::feed_token::FEED_TOKEN_BYTES;
use booking_edge::input::path_param;
use booking_edge::{ApiError, respond};
use booking_email::calendar_feed;
use booking_repository::calendar_feeds;
use booking_repository::rate_limit::{self, RateLimit};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::Deps;

/// The one answer to a token that opens no feed.
fn no_feed() -> ApiError {
    ApiError::new(
        404,
        "not_found",
        "Not found",
        "No calendar feed has this address.",
    )
}

/// A fresh token from the operating system's generator.
pub(crate) fn new_token() -> Result<FeedToken, ApiError> {
    let mut random = [0_u8; FEED_TOKEN_BYTES];
    getrandom::fill(&mut random).map_err(|error| {
        tracing::error!(%error, "no randomness for a feed token");
        ApiError::internal()
    })?;
    Ok(FeedToken::from_random(random))
}

/// The feed token of the path (`feedToken`, or the segment after `calendar`).
fn path_token(request: &Request) -> Option<FeedToken> {
    FeedToken::parse(&path_param(request, "feedToken", "calendar")?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A strong validator of the body: the first 128 bits of its SHA-256, quoted.
fn entity_tag(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    format!("\"{}\"", hex(&digest[..16]))
}

/// Whether `If-None-Match` names `tag` (or is `*`); weak tags compare by their opaque part,
/// as RFC 9110 has it for this header.
fn matches(request: &Request, tag: &str) -> bool {
    request
        .headers()
        .get_all("if-none-match")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == "*" || candidate == tag)
}

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(feed(deps, &request).await)
}

async fn feed(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    // Checked before any database work: a malformed token is answered as an unknown one.
    let token = path_token(request).ok_or_else(no_feed)?;
    let now = deps.now();
    let digest = token.digest();
    let mut conn = deps.connection().await?;
    // Per feed, not per address: calendar services (Google, Outlook) fetch every subscriber's
    // feed from a few shared addresses.
    let bucket = format!("calendar:{}", hex(&digest[..8]));
    if let Some(limit) = RateLimit::per_minute(&bucket, deps.config.manage_rate_limit_per_minute)
        && let Some(retry_after) = rate_limit::hit(&conn, limit, now).await?
    {
        return Err(ApiError::rate_limited(retry_after));
    }
    let feed = calendar_feeds::by_token(&mut conn, &digest)
        .await?
        .ok_or_else(no_feed)?;
    let jobs = calendar_feeds::jobs(&mut conn, &feed, now).await?;
    let text = calendar_feed(
        &feed.tenant_name,
        feed.zone.name(),
        &jobs,
        &deps.config.public_app_url,
    );
    let tag = entity_tag(&text);
    let fresh = matches(request, &tag);
    tracing::info!(feed_id = %feed.id, tenant_id = %feed.tenant_id, events = jobs.len(), not_modified = fresh, "calendar feed read");
    let builder = Response::builder()
        .header("etag", &tag)
        // Subscribers revalidate each time; the URL is a secret, so no shared cache keeps it.
        .header("cache-control", "private, no-cache");
    let response = if fresh {
        builder.status(304).body(Body::Empty)
    } else {
        builder
            .status(200)
            .header("content-type", "text/calendar; charset=utf-8")
            .body(Body::Text(text))
    };
    response.map_err(|_| ApiError::internal())
}
