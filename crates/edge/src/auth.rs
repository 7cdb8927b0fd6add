//! Who is calling an owner route, and for which tenant.
//!
//! In AWS the HTTP API's JWT authorizer has verified the token and hands the function its
//! claims; they are trusted only when the function is configured to run behind it
//! (`AUTH_TRUST_AUTHORIZER=true`), never by default. Such a token names a user (issuer and
//! subject), and the user's tenant is looked up in `tenant_members`, which only the operator's
//! tool writes: a tenant claim in it is ignored, as identity providers may let users edit their
//! own attributes. Where no authorizer ran (locally), the function verifies an HS256 bearer
//! token itself with `AUTH_JWT_SECRET`, the algorithm pinned and `exp` required; such a token is
//! signed by us (`scripts/tenant token`), so its `tenant_id` is trusted. With neither: 401.

use std::collections::HashMap;

use booking_repository::{AsyncPgConnection, members};
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

/// A verified caller whose tenant may still need looking up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A token we signed ourselves (`AUTH_JWT_SECRET`): its tenant is ours to trust.
    Owner(Owner),
    /// A user the API Gateway authorizer verified; their tenant comes from `tenant_members`.
    Member { issuer: String, subject: String },
}

impl Caller {
    /// The owner this caller acts as: a member's tenant is read from `tenant_members` (one
    /// primary-key lookup); a user who is nobody's member gets a 401.
    pub async fn owner(self, conn: &mut AsyncPgConnection) -> Result<Owner, ApiError> {
        let (issuer, subject) = match self {
            Self::Owner(owner) => return Ok(owner),
            Self::Member { issuer, subject } => (issuer, subject),
        };
        let tenant_id = members::tenant_of(conn, &issuer, &subject)
            .await?
            .ok_or_else(|| {
                tracing::info!(%issuer, %subject, "signed-in user is no tenant's member");
                ApiError::unauthorized(
                    "The signed-in user is not a member of any tenant; ask the operator to add you.",
                )
            })?;
        Ok(Owner { tenant_id, subject })
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

/// The verified caller behind `request`, or a 401 problem.
pub fn authenticate(request: &Request, config: &Config) -> Result<Caller, ApiError> {
    if let Some(claims) = authorizer_claims(request).filter(|_| config.auth_trust_authorizer) {
        return member_from(claims);
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
    owner_from(claims.sub.as_deref(), tenant.as_deref()).map(Caller::Owner)
}

/// The user named by verified authorizer claims; any tenant claim among them is ignored.
fn member_from(claims: &HashMap<String, String>) -> Result<Caller, ApiError> {
    let named = |key: &str| {
        claims
            .get(key)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    match (named("iss"), named("sub")) {
        (Some(issuer), Some(subject)) => Ok(Caller::Member { issuer, subject }),
        _ => Err(ApiError::unauthorized(
            "The token names no user (`iss` and `sub` claims).",
        )),
    }
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
