//! Who is calling an owner route, and for which tenant.
//!
//! In AWS the HTTP API's JWT authorizer has verified the token and hands the function its
//! claims; they are trusted only when the function is configured to run behind it
//! (`AUTH_TRUST_AUTHORIZER=true`), never by default. Where no authorizer ran (locally), the
//! function verifies an HS256 bearer token itself with `AUTH_JWT_SECRET`, the algorithm pinned
//! and `exp` required. With neither: 401.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use uuid::Uuid;

use crate::config::Config;
use crate::problem::ApiError;

/// A signed-in owner or staff member, scoped to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub tenant_id: Uuid,
    /// The token's subject, recorded as who changed a job.
    pub subject: String,
}

impl Owner {
    /// How this owner appears in a job's `changed_by`.
    pub fn actor(&self) -> String {
        let subject: String = self.subject.chars().take(180).collect();
        format!("owner:{subject}")
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default, rename = "custom:tenant_id")]
    cognito_tenant_id: Option<String>,
}

fn owner_from(subject: Option<&str>, tenant: Option<&str>) -> Result<Owner, ApiError> {
    let tenant_id = tenant
        .and_then(|t| Uuid::parse_str(t.trim()).ok())
        .ok_or_else(|| ApiError::unauthorized("The token carries no valid tenant_id claim."))?;
    Ok(Owner {
        tenant_id,
        subject: subject.unwrap_or("unknown").to_owned(),
    })
}

/// The owner behind `request`, or a 401 problem.
pub fn authenticate(request: &Request, config: &Config) -> Result<Owner, ApiError> {
    if let Some(claims) = authorizer_claims(request).filter(|_| config.auth_trust_authorizer) {
        let tenant = claims
            .get("tenant_id")
            .or_else(|| claims.get("custom:tenant_id"));
        return owner_from(
            claims.get("sub").map(String::as_str),
            tenant.map(String::as_str),
        );
    }
    let Some(secret) = config.auth_jwt_secret.as_deref() else {
        return Err(ApiError::unauthorized(
            "Owner routes need a signed-in user.",
        ));
    };
    let token = bearer(request).ok_or_else(|| {
        ApiError::unauthorized("Send an owner token as `Authorization: Bearer <token>`.")
    })?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    let claims = decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| {
        tracing::info!(reason = %e, "owner token refused");
        ApiError::unauthorized("The owner token is invalid or expired.")
    })?
    .claims;
    let tenant = claims.tenant_id.or(claims.cognito_tenant_id);
    owner_from(claims.sub.as_deref(), tenant.as_deref())
}

/// Claims an API Gateway JWT authorizer verified (HTTP API, payload 2.0).
fn authorizer_claims(request: &Request) -> Option<&HashMap<String, String>> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims)
            .filter(|claims| !claims.is_empty()),
        _ => None,
    }
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}
