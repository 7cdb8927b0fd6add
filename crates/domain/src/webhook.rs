//! Webhooks, the pure half: which job changes are events and what they are called, the
//! endpoint URLs a tenant may register (and the addresses they may reach), the per-endpoint
//! signing secret, and the Standard Webhooks signature.
//!
//! An endpoint's secret is never stored: it is a keyed MAC of the endpoint's id under
//! `WEBHOOK_SIGNING_SECRET` (as manage links are), so the database holds nothing that signs,
//! the relay can sign without reading a secret column, and the registration answer can show
//! it once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// The events a tenant can subscribe to (PRODUCT.md "Integrations and deliverability").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    Created,
    Confirmed,
    Declined,
    Cancelled,
    Rescheduled,
    Completed,
    NoShow,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 7] = [
        Self::Created,
        Self::Confirmed,
        Self::Declined,
        Self::Cancelled,
        Self::Rescheduled,
        Self::Completed,
        Self::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "booking.created",
            Self::Confirmed => "booking.confirmed",
            Self::Declined => "booking.declined",
            Self::Cancelled => "booking.cancelled",
            Self::Rescheduled => "booking.rescheduled",
            Self::Completed => "booking.completed",
            Self::NoShow => "booking.no_show",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == text)
    }

    /// The event a history entry's action (`booked`, `entered`, `JobAction::past`) sends, if
    /// any: a booking and a hand-entered job are both `booking.created`; a start sends nothing.
    pub fn for_history(action: &str) -> Option<Self> {
        Some(match action {
            "booked" | "entered" => Self::Created,
            "confirmed" => Self::Confirmed,
            "declined" => Self::Declined,
            "cancelled" => Self::Cancelled,
            "rescheduled" => Self::Rescheduled,
            "completed" => Self::Completed,
            "no-show" => Self::NoShow,
            _ => return None,
        })
    }
}

/// An endpoint's events, parsed: at least one, each known, no repeats. Unknown names are
/// refused all together, named.
pub fn parse_events<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<WebhookEvent>, EventsRefused> {
    let mut events = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match WebhookEvent::parse(name) {
            Some(event) if !events.contains(&event) => events.push(event),
            Some(_) => {}
            None => unknown.push(name.to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(EventsRefused::Unknown(unknown));
    }
    if events.is_empty() {
        return Err(EventsRefused::Empty);
    }
    Ok(events)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsRefused {
    #[error("unknown events: {}", .0.join(", "))]
    Unknown(Vec<String>),
    #[error("at least one event is required")]
    Empty,
}

/// Longest URL an endpoint may have.
pub const MAX_URL_CHARS: usize = 2000;

/// An endpoint's URL, parsed: absolute, `https` (or `http` to a loopback address where the
/// setting allows it), no credentials, and — for an address literal — an address it may reach.
/// A name is checked again wherever it is resolved ([`refused_address`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    text: String,
    https: bool,
    /// A name, or an address literal (IPv6 without brackets).
    host: String,
    port: u16,
    /// Path and query, at least `/`.
    target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("must be an absolute URL of at most {MAX_URL_CHARS} characters")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry credentials")]
    Credentials,
    #[error("must not point at {0}")]
    Address(AddressRefused),
}

impl WebhookUrl {
    pub fn parse(text: &str, allow_loopback: bool) -> Result<Self, UrlRefused> {
        if text.is_empty() || text.chars().count() > MAX_URL_CHARS || text.trim() != text {
            return Err(UrlRefused::Malformed);
        }
        let uri: http::Uri = text.parse().map_err(|_| UrlRefused::Malformed)?;
        let https = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            Some(_) => return Err(UrlRefused::NotHttps),
            None => return Err(UrlRefused::Malformed),
        };
        let authority = uri.authority().ok_or(UrlRefused::Malformed)?;
        if authority.as_str().contains('@') {
            return Err(UrlRefused::Credentials);
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(UrlRefused::Malformed);
        }
        let literal: Option<IpAddr> = host.parse().ok();
        if let Some(address) = literal
            && let Some(refused) = refused_address(address, allow_loopback)
        {
            return Err(UrlRefused::Address(refused));
        }
        // Plain http only to a loopback address literal, and only where that is allowed.
        let local_loopback = allow_loopback && literal.is_some_and(|a| a.is_loopback());
        if !(https || local_loopback) {
            return Err(UrlRefused::NotHttps);
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let target = if target.is_empty() {
            "/".to_owned()
        } else {
            target
        };
        Ok(Self {
            text: text.to_owned(),
            https,
            host,
            port,
            target,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, as the request line carries them.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header: the host as written (IPv6 in brackets), with a port that is not the
    /// scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why an address may not be reached by a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressRefused {
    #[error("a loopback address")]
    Loopback,
    #[error("a private address")]
    Private,
    #[error("a link-local address")]
    LinkLocal,
    #[error("a shared (CGNAT) address")]
    SharedCgnat,
    #[error("the cloud metadata address")]
    Metadata,
    #[error("an unspecified address")]
    Unspecified,
    #[error("a multicast or broadcast address")]
    Multicast,
    #[error("a reserved address")]
    Reserved,
}

/// Whether a webhook may connect to `address`: anything but loopback (unless `allow_loopback`),
/// private, link-local, CGNAT, metadata, unspecified, multicast and reserved ranges. An IPv6
/// address that carries an IPv4 one (mapped, compatible, NAT64, 6to4) is judged by it.
pub fn refused_address(address: IpAddr, allow_loopback: bool) -> Option<AddressRefused> {
    let refused = match address {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    };
    match refused {
        Some(AddressRefused::Loopback) if allow_loopback => None,
        other => other,
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<AddressRefused> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => AddressRefused::Metadata,
        (0, _, _) => AddressRefused::Unspecified,
        (127, _, _) => AddressRefused::Loopback,
        (10, _, _) | (192, 168, _) => AddressRefused::Private,
        (172, 16..=31, _) => AddressRefused::Private,
        (169, 254, _) => AddressRefused::LinkLocal,
        (100, 64..=127, _) => AddressRefused::SharedCgnat,
        // IETF protocol assignments, documentation, benchmarking.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (198, 18..=19, _) => {
            AddressRefused::Reserved
        }
        (224..=239, _, _) | (255, 255, 255) => AddressRefused::Multicast,
        (240..=255, _, _) => AddressRefused::Reserved,
        _ => return None,
    })
}

/// The IPv4 address an IPv6 one stands for: `::ffff:a.b.c.d`, `::a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // `::` and `::1` are IPv6's own.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<AddressRefused> {
    let first = ip.segments()[0];
    Some(match ip {
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => AddressRefused::Metadata,
        _ if ip.is_unspecified() => AddressRefused::Unspecified,
        _ if ip.is_loopback() => AddressRefused::Loopback,
        _ if first & 0xfe00 == 0xfc00 => AddressRefused::Private,
        _ if first & 0xffc0 == 0xfe80 => AddressRefused::LinkLocal,
        _ if first & 0xff00 == 0xff00 => AddressRefused::Multicast,
        // Documentation (2001:db8::/32) and the discard prefix (100::/64).
        _ if first == 0x2001 && ip.segments()[1] == 0xdb8 => AddressRefused::Reserved,
        _ if first == 0x0100 && ip.segments()[1..4] == [0, 0, 0] => AddressRefused::Reserved,
        _ => return None,
    })
}

/// Shortest `WEBHOOK_SIGNING_SECRET` accepted: 32 bytes, the MAC's own strength.
pub const MIN_SIGNING_SECRET_BYTES: usize = 32;
/// Keeps these MACs apart from any other use of the same secret.
const PURPOSE: &[u8] = b"booking webhook endpoint secret v1\0";

/// The server secret every endpoint's signing secret is derived from.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookKey(Vec<u8>);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook signing secret must be at least {MIN_SIGNING_SECRET_BYTES} bytes")]
pub struct WeakWebhookSecret;

impl WebhookKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, WeakWebhookSecret> {
        let secret = secret.into();
        if secret.len() < MIN_SIGNING_SECRET_BYTES {
            return Err(WeakWebhookSecret);
        }
        Ok(Self(secret))
    }

    /// Endpoint `webhook_id`'s signing secret (32 bytes).
    pub fn endpoint_secret(&self, webhook_id: Uuid) -> EndpointSecret {
        let mut mac = hmac_sha256(&self.0);
        mac.update(PURPOSE);
        mac.update(webhook_id.as_bytes());
        EndpointSecret(mac.finalize().into_bytes().to_vec())
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

/// One endpoint's signing secret. Shown once, as `whsec_<base64>`; never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(..)")
    }
}

impl EndpointSecret {
    /// The secret as Standard Webhooks writes it: `whsec_` and the key's base64.
    pub fn reveal(&self) -> String {
        format!("whsec_{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` header of message `id` sent at `timestamp` (Unix seconds) with
    /// `body`: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// How long a delivery is retried before it is given up: at least a day (PRODUCT.md).
pub const RETRY_FOR: Duration = Duration::hours(24);
const FIRST_RETRY_SECONDS: i64 = 30;
const LONGEST_WAIT_SECONDS: i64 = 4 * 3600;

/// After failed attempt number `attempts` of a delivery created at `created_at`, failing at
/// `now`: when to try again (30 s, doubling, at most 4 h apart), or `None` once it has been
/// retried for [`RETRY_FOR`] — the attempt that lands past it is the last.
pub fn next_delivery_attempt(
    attempts: u32,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if now - created_at >= RETRY_FOR {
        return None;
    }
    let doublings = attempts.saturating_sub(1).min(20);
    let wait = FIRST_RETRY_SECONDS.saturating_mul(1_i64 << doublings);
    let next = now + Duration::seconds(wait.min(LONGEST_WAIT_SECONDS));
    // The last retry lands on the deadline, so the day is covered however the waits fall.
    Some(next.min(created_at + RETRY_FOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_name_round_trips_and_history_actions_map_to_them() {
        for event in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(event.as_str()), Some(event));
        }
        assert_eq!(
            WebhookEvent::for_history("entered"),
            Some(WebhookEvent::Created)
        );
        assert_eq!(
            WebhookEvent::for_history("no-show"),
            Some(WebhookEvent::NoShow)
        );
        assert_eq!(WebhookEvent::for_history("started"), None);
    }

    #[test]
    fn unknown_events_are_named_all_together() {
        assert_eq!(
            parse_events(["booking.created", "booking.exploded", "x"]),
            Err(EventsRefused::Unknown(vec![
                "booking.exploded".to_owned(),
                "x".to_owned()
            ]))
        );
        assert_eq!(parse_events([]), Err(EventsRefused::Empty));
        assert_eq!(
            parse_events(["booking.created", "booking.created"]),
            Ok(vec![WebhookEvent::Created])
        );
    }

    #[test]
    fn urls_must_be_absolute_https_without_credentials() {
        let ok = WebhookUrl::parse("https://hooks.example.com/in?x=1", false).unwrap();
        assert_eq!(
            (ok.host(), ok.port(), ok.target()),
            ("hooks.example.com", 443, "/in?x=1")
        );
        assert_eq!(
            WebhookUrl::parse("http://hooks.example.com/", false),
            Err(UrlRefused::NotHttps)
        );
        assert_eq!(
            WebhookUrl::parse("/relative", false),
            Err(UrlRefused::Malformed)
        );
        assert_eq!(
            WebhookUrl::parse("ftp://hooks.example.com/", false),
            Err(UrlRefused::NotHttps)
        );
        assert_eq!(
            WebhookUrl::parse("https://user:pw@hooks.example.com/", false),
            Err(UrlRefused::Credentials)
        );
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(WebhookUrl::parse(&long, false), Err(UrlRefused::Malformed));
    }

    #[test]
    fn loopback_over_http_only_with_the_setting_and_private_ranges_never() {
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(WebhookUrl::parse("http://[::1]:8080/hook", true).is_ok());
        assert_eq!(
            WebhookUrl::parse("http://127.0.0.1:8080/hook", false),
            Err(UrlRefused::Address(AddressRefused::Loopback))
        );
        assert_eq!(
            WebhookUrl::parse("http://localhost:8080/hook", true),
            Err(UrlRefused::NotHttps),
            "http only to an address literal"
        );
        for (url, why) in [
            ("https://10.0.0.1/", AddressRefused::Private),
            ("https://172.20.1.1/", AddressRefused::Private),
            ("https://192.168.1.1/", AddressRefused::Private),
            ("https://169.254.169.254/", AddressRefused::Metadata),
            ("https://[fd00:ec2::254]/", AddressRefused::Metadata),
            ("https://169.254.1.1/", AddressRefused::LinkLocal),
            ("https://100.64.0.1/", AddressRefused::SharedCgnat),
            ("https://0.0.0.0/", AddressRefused::Unspecified),
            ("https://[::]/", AddressRefused::Unspecified),
            ("https://224.0.0.1/", AddressRefused::Multicast),
            ("https://[fe80::1]/", AddressRefused::LinkLocal),
            ("https://[fc00::1]/", AddressRefused::Private),
            ("https://[::ffff:10.0.0.1]/", AddressRefused::Private),
            (
                "https://[::ffff:169.254.169.254]/",
                AddressRefused::Metadata,
            ),
            ("https://[64:ff9b::a9fe:a9fe]/", AddressRefused::Metadata),
            ("https://[2002:a00:1::]/", AddressRefused::Private),
        ] {
            assert_eq!(
                WebhookUrl::parse(url, true),
                Err(UrlRefused::Address(why)),
                "{url}"
            );
        }
        assert_eq!(
            refused_address("93.184.216.34".parse().unwrap(), false),
            None
        );
        assert_eq!(
            refused_address("2606:2800:220:1::1".parse().unwrap(), false),
            None
        );
    }

    #[test]
    fn an_endpoint_secret_is_derived_from_its_id_and_signs_id_timestamp_and_body() {
        let key = WebhookKey::new(vec![7; 32]).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(key.endpoint_secret(a), key.endpoint_secret(a));
        assert_ne!(key.endpoint_secret(a), key.endpoint_secret(b));
        let secret = key.endpoint_secret(a).reveal();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(
            STANDARD.decode(&secret["whsec_".len()..]).unwrap().len(),
            32
        );
        assert!(WebhookKey::new(vec![7; 31]).is_err());
        // The Standard Webhooks specification's own example.
        let spec = EndpointSecret(STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap());
        assert_eq!(
            spec.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn deliveries_are_retried_with_growing_waits_for_a_day_then_given_up() {
        let created = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let first = next_delivery_attempt(1, created, created).unwrap();
        assert_eq!(first - created, Duration::seconds(30));
        let mut now = created;
        let mut attempts = 1;
        while let Some(next) = next_delivery_attempt(attempts, created, now) {
            assert!(next > now);
            now = next;
            attempts += 1;
        }
        assert!(now - created >= RETRY_FOR, "retried for a whole day");
        assert!(attempts < 30, "{attempts} attempts");
    }
}
