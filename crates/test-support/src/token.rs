//! HS256 owner tokens as the functions verify them where no API Gateway authorizer ran, and
//! the pieces to forge the ones they must refuse.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use uuid::Uuid;

/// The `AUTH_JWT_SECRET` the tests configure.
pub const TEST_SECRET: &str = "test-secret";

/// `claims` signed with `secret` by `algorithm`.
pub fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign a token")
}

/// An HS256 owner token for `tenant_id`, expiring `expires_in` seconds from the real now.
pub fn owner_token(tenant_id: Uuid, expires_in: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({"sub": "owner@test", "tenant_id": tenant_id, "iat": now, "exp": now + expires_in});
    sign(&claims, TEST_SECRET, Algorithm::HS256)
}

/// A JSON value as one unpadded base64url segment of a token.
pub fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}
