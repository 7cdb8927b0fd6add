//! A calendar feed's secret: 256 random bits in the URL a calendar app subscribes to
//! (`…/calendar/{token}`). Only its SHA-256 is stored — a plain hash is enough for a random
//! token of this size (nothing to guess), and a database reader cannot hand the URL out. The
//! randomness comes from the caller (the domain does no I/O).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in a token.
pub const FEED_TOKEN_BYTES: usize = 32;
/// Its text length: base64url without padding.
pub const FEED_TOKEN_CHARS: usize = 43;

/// A feed token as it appears in the URL. Never logged: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct FeedToken(String);

impl std::fmt::Debug for FeedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedToken(..)")
    }
}

impl FeedToken {
    /// The token of `random` (fresh bytes from the operating system's generator).
    pub fn from_random(random: [u8; FEED_TOKEN_BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(random))
    }

    /// A token as a URL carries it; anything that is not one this module could issue is
    /// `None` (the caller answers it exactly as an unknown token).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != FEED_TOKEN_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        (bytes.len() == FEED_TOKEN_BYTES && URL_SAFE_NO_PAD.encode(&bytes) == text)
            .then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up: the SHA-256 of the token's text.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_parses_back_and_hashes_alike() {
        let token = FeedToken::from_random([7; FEED_TOKEN_BYTES]);
        assert_eq!(token.as_str().len(), FEED_TOKEN_CHARS);
        let parsed = FeedToken::parse(token.as_str()).expect("parses");
        assert_eq!(parsed.digest(), token.digest());
        assert_ne!(
            FeedToken::from_random([8; FEED_TOKEN_BYTES]).digest(),
            token.digest()
        );
    }

    #[test]
    fn anything_else_is_no_token() {
        let token = FeedToken::from_random([7; FEED_TOKEN_BYTES]);
        for bad in [
            "",
            "abc",
            &token.as_str()[1..],
            &format!("{}A", token.as_str()),
            &token
                .as_str()
                .replace(|c: char| c.is_ascii_alphanumeric(), "+"),
            "...........................................",
        ] {
            assert_eq!(FeedToken::parse(bad), None, "{bad}");
        }
        assert_eq!(format!("{token:?}"), "FeedToken(..)");
    }
}
