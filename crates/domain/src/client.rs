//! Client-supplied values, parsed once at the edge into types that cannot hold bad data.

use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Why a field was refused: the field's name (as the API spells it) and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims, checks length in characters, and refuses control characters (no header injection).
fn text(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if chars < min {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn single_line(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    let value = text(field, raw, min, max)?;
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must be a single line without control characters",
        ));
    }
    refuse_format_characters(field, value)
}

/// Unicode format characters — bidi overrides and isolates, zero-width spaces and joiners, the
/// byte order mark — are invisible: they make a text read otherwise than it is (a name that
/// shows a different address, a reversed link).
fn refuse_format_characters(field: &'static str, value: String) -> Result<String, FieldError> {
    if value
        .chars()
        .any(|c| c.general_category() == GeneralCategory::Format)
    {
        return Err(FieldError::new(
            field,
            "must not contain invisible formatting characters (bidi overrides, zero-width)",
        ));
    }
    Ok(value)
}

/// A name a business shows (its own, a service's): 1–200 characters on one line. `field` is
/// the field's name as the API spells it.
pub fn display_name(field: &'static str, raw: &str) -> Result<String, FieldError> {
    single_line(field, raw, 1, 200)
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_newtype!(
    /// A client's name: 1–200 characters on one line.
    ClientName
);
text_newtype!(
    /// An email address as the client typed it (trimmed); compared case-insensitively.
    ClientEmail
);
text_newtype!(
    /// An address mail can be sent to: what the mailer's own parser (lettre's `Address`) takes,
    /// so an address accepted here never fails when the mail is built.
    MailAddress
);
text_newtype!(
    /// A phone number: digits and the usual separators, up to 40 characters.
    Phone
);
text_newtype!(
    /// Free-text notes: up to 2000 characters, line breaks allowed.
    Notes
);
text_newtype!(
    /// A job's title: 1–200 characters on one line.
    JobTitle
);
text_newtype!(
    /// Why an owner declined a booking: 1–1000 characters.
    DeclineReason
);
text_newtype!(
    /// A client-chosen `Idempotency-Key`: 1–255 visible ASCII characters.
    IdempotencyKey
);

impl ClientName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        single_line("name", raw, 1, 200).map(Self)
    }
}

impl MailAddress {
    /// Trims, then parses as the mailer does.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        value
            .parse::<lettre::Address>()
            .map(|_| Self(value.to_owned()))
            .map_err(|_| {
                FieldError::new(
                    "email",
                    "must be a valid email address, like name@example.com",
                )
            })
    }
}

impl ClientEmail {
    pub const MAX_LEN: usize = 254;

    /// A pragmatic check (one `@`, a dotted domain, no spaces or control characters): strict
    /// enough to refuse typos and header injection, loose enough for real international addresses.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                "email",
                "must be a valid email address, like name@example.com",
            )
        };
        let value = single_line("email", raw, 1, Self::MAX_LEN)?;
        if value.chars().any(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '<' | '>' | ',' | ';' | '"' | '\\' | '(' | ')' | '[' | ']'
                )
        }) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.len() <= 63
        });
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || !domain.contains('.')
            || !labels_ok
        {
            return Err(invalid());
        }
        // What the mailer cannot parse would fail every mail to it.
        MailAddress::parse(&value).map_err(|_| invalid())?;
        Ok(Self(value))
    }

    /// The address with everything but its first character and domain hidden, for logs.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// `jane@example.com` → `j***@example.com`; anything without an `@` → `***`.
pub fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = single_line("phone", raw, 1, 40)?;
        let allowed =
            |c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.' | '/');
        if !value.chars().all(allowed) || !value.chars().any(|c| c.is_ascii_digit()) {
            return Err(FieldError::new(
                "phone",
                "must contain digits and only + - ( ) . / or spaces",
            ));
        }
        Ok(Self(value))
    }
}

impl Notes {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = text("notes", raw, 0, 2000)?;
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(FieldError::new(
                "notes",
                "must not contain control characters",
            ));
        }
        refuse_format_characters("notes", value).map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl JobTitle {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        single_line("title", raw, 1, 200).map(Self)
    }

    /// The default title of a booking: "Haircut – Jane Doe".
    pub fn for_booking(service_name: &str, client: &ClientName) -> Self {
        let title = format!("{service_name} – {client}");
        Self(title.chars().take(200).collect())
    }
}

impl DeclineReason {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = text("reason", raw, 1, 1000)?;
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(FieldError::new(
                "reason",
                "must not contain control characters",
            ));
        }
        Ok(Self(value))
    }
}

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "Idempotency-Key",
                "must be 1–255 visible ASCII characters",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_that_people_type_are_accepted() {
        for ok in [
            "jane@example.com",
            " Jane.Doe+salon@Example.co.uk ",
            "o'brien@mail.example",
            "josé@exämple.com",
        ] {
            assert!(ClientEmail::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_or_injecting_emails_are_refused() {
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "jane doe@example.com",
            "a@b@c.com",
            "jane@example.com\r\nBcc: x@y.z",
            "jane@-example.com",
            "<jane@example.com>",
        ] {
            assert!(ClientEmail::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(ClientEmail::parse(&long).is_err());
    }

    #[test]
    fn emails_the_mailer_cannot_parse_are_refused() {
        for bad in [
            "john..doe@example.com",
            ".jo@x.com",
            "jo.@x.com",
            "a:b@x.com",
        ] {
            assert!(ClientEmail::parse(bad).is_err(), "{bad:?}");
            assert!(MailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            MailAddress::parse(" owner@fifi.example ").map(MailAddress::into_inner),
            Ok("owner@fifi.example".to_owned())
        );
    }

    #[test]
    fn masking_hides_the_local_part() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
    }

    #[test]
    fn names_are_trimmed_bounded_and_single_line() {
        assert_eq!(
            ClientName::parse("  Jane  ").map(ClientName::into_inner),
            Ok("Jane".to_owned())
        );
        assert!(ClientName::parse("   ").is_err());
        assert!(ClientName::parse(&"x".repeat(201)).is_err());
        assert!(ClientName::parse(&"é".repeat(200)).is_ok());
        assert!(ClientName::parse("Jane\r\nBcc: evil@example.com").is_err());
    }

    #[test]
    fn names_and_notes_refuse_invisible_format_characters() {
        for sneaky in [
            "Jane\u{202E}evil",
            "Ja\u{200B}ne",
            "Jane\u{2066}x\u{2069}",
            "\u{FEFF}Jane",
        ] {
            assert!(ClientName::parse(sneaky).is_err(), "{sneaky:?}");
            assert!(Notes::parse(sneaky).is_err(), "{sneaky:?}");
        }
        assert!(ClientName::parse("Zoë O'Brien-Łukasz 山田").is_ok());
        assert!(Notes::parse("Line one\nline two\tindented").is_ok());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("abc-123_XYZ").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("é").is_err());
    }

    #[test]
    fn phones_and_reasons_are_checked() {
        assert!(Phone::parse("+1 (555) 010-2030").is_ok());
        assert!(Phone::parse("call me").is_err());
        assert!(DeclineReason::parse("").is_err());
        assert!(DeclineReason::parse(&"r".repeat(1001)).is_err());
        assert!(DeclineReason::parse("Fully booked that day, sorry!").is_ok());
    }
}
