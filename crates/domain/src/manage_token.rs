//! A client's manage link: a credential that is never stored. The token is the job's id and a
//! version with a keyed MAC over both (HMAC-SHA-256 under `MANAGE_TOKEN_SECRET`, truncated to
//! 128 bits), so every later mail can carry the current link, a database reader cannot forge
//! one, and bumping the job's version (a reschedule, an erasure) kills every earlier link.
//!
//! Layout, base64url without padding (48 characters): version (4 bytes, big-endian), job id
//! (16 bytes), tag (16 bytes). The tag is checked in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// The text length of every token this module issues.
pub const TOKEN_CHARS: usize = 48;
const TAG_BYTES: usize = 16;
const BODY_BYTES: usize = 4 + 16;
/// Shortest secret accepted: 32 bytes, the MAC's own strength.
pub const MIN_SECRET_BYTES: usize = 32;
/// Keeps these MACs apart from any other use of the same secret.
const PURPOSE: &[u8] = b"booking manage link v1\0";

/// The secret manage links are signed with.
#[derive(Clone)]
pub struct ManageKey(Vec<u8>);

impl std::fmt::Debug for ManageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManageKey(..)")
    }
}

/// Equal keys sign alike (for comparing configurations; tokens are checked by [`ManageKey::verify`]).
impl PartialEq for ManageKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for ManageKey {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the manage-token secret must be at least {MIN_SECRET_BYTES} bytes")]
pub struct WeakSecret;

/// What a valid token names: the job and the link version it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManageLink {
    pub job_id: Uuid,
    pub version: u32,
}

impl ManageKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, WeakSecret> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret);
        }
        Ok(Self(secret))
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(PURPOSE);
        mac.update(body);
        mac
    }

    /// The token of `link`.
    pub fn issue(&self, link: ManageLink) -> String {
        let mut bytes = Vec::with_capacity(BODY_BYTES + TAG_BYTES);
        bytes.extend_from_slice(&link.version.to_be_bytes());
        bytes.extend_from_slice(link.job_id.as_bytes());
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// What `token` names, if this key issued it; `None` for anything else (malformed, too long,
    /// forged), all alike.
    pub fn verify(&self, token: &str) -> Option<ManageLink> {
        if token.len() != TOKEN_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != BODY_BYTES + TAG_BYTES {
            return None;
        }
        let (body, tag) = bytes.split_at(BODY_BYTES);
        self.mac(body).verify_truncated_left(tag).ok()?;
        let version = u32::from_be_bytes(body[..4].try_into().ok()?);
        let job_id = Uuid::from_slice(&body[4..]).ok()?;
        Some(ManageLink { job_id, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ManageKey {
        ManageKey::new(vec![byte; 32]).unwrap()
    }

    fn link(version: u32) -> ManageLink {
        ManageLink {
            job_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            version,
        }
    }

    #[test]
    fn a_token_names_its_job_and_version_and_is_url_safe() {
        let token = key(7).issue(link(3));
        assert_eq!(token.len(), TOKEN_CHARS);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(key(7).verify(&token), Some(link(3)));
        assert_ne!(token, key(7).issue(link(4)), "a new version, a new token");
    }

    #[test]
    fn another_key_a_flipped_bit_or_a_wrong_length_is_refused() {
        let token = key(7).issue(link(1));
        assert_eq!(key(8).verify(&token), None);
        for index in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
            let tampered: String = chars.into_iter().collect();
            assert_eq!(key(7).verify(&tampered), None, "position {index}");
        }
        assert_eq!(key(7).verify(&token[..TOKEN_CHARS - 1]), None);
        assert_eq!(key(7).verify(&format!("{token}A")), None);
        assert_eq!(key(7).verify(&"=".repeat(TOKEN_CHARS)), None);
        assert_eq!(key(7).verify(""), None);
        assert_eq!(key(7).verify(&"é".repeat(24)), None);
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert_eq!(ManageKey::new(vec![1; 31]).err(), Some(WeakSecret));
        assert!(
            format!("{:?}", key(1)).contains(".."),
            "the secret never prints"
        );
    }
}
