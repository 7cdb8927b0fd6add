//! A mail from its kind and context: subject, bodies, invitation, and the MIME message SES
//! sends as is.

use booking_domain::{JobStatus, MailContext, MailKind, ManageKey, ManageLink};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use uuid::Uuid;

use crate::ics;
use crate::templates::{self, View};

/// What every mail needs from the configuration.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `SES_FROM_ADDRESS`: a verified SES identity; shown with the business's name.
    pub from_address: String,
    /// `PUBLIC_APP_URL`: owner mails link to `{public_app_url}/jobs/{job_id}`.
    pub public_app_url: String,
    /// `PUBLIC_BOOKING_URL`: client mails link to `{public_booking_url}/manage/{token}`.
    pub public_booking_url: String,
    /// `MANAGE_TOKEN_SECRET`: the token of a client mail's link is derived when it is rendered
    /// (from the job's current version), never stored.
    pub manage_key: ManageKey,
}

impl MailSettings {
    /// The client's page of the job in `mail`, for its current link version.
    pub fn manage_url(&self, mail: &MailContext) -> String {
        let token = self.manage_key.issue(ManageLink {
            job_id: mail.job_id,
            version: mail.manage_version,
        });
        format!(
            "{}/manage/{token}",
            self.public_booking_url.trim_end_matches('/')
        )
    }
}

/// A mail ready to send: the complete MIME message and what a sender logs or files it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub kind: MailKind,
    pub job_id: Uuid,
    /// The bare sender address (SES checks it against its identities).
    pub from: String,
    /// The bare recipient address.
    pub to: String,
    pub subject: String,
    /// The RFC 5322 message, as SES v2 takes it for raw content.
    pub raw: Vec<u8>,
}

/// Why a mail could not be built. Retrying cannot help: the mail is given up.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot render the template: {0}")]
    Template(#[from] askama::Error),
    /// The message names the field, never the address (it may be a client's).
    #[error("the {0} address is not a deliverable mail address")]
    Address(&'static str),
    #[error("cannot build the MIME message: {0}")]
    Mime(#[from] lettre::error::Error),
    #[error("cannot build the calendar content type: {0}")]
    ContentType(#[from] lettre::message::header::ContentTypeErr),
}

/// Header text on one line: client-supplied values are single-line already (the domain refuses
/// control characters); this keeps a stray one from ever reaching a header.
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn mailbox(name: Option<&str>, address: &str, field: &'static str) -> Result<Mailbox, RenderError> {
    let address = address
        .trim()
        .parse()
        .map_err(|_| RenderError::Address(field))?;
    Ok(Mailbox::new(name.map(header_text), address))
}

pub(crate) fn subject(kind: MailKind, mail: &MailContext) -> String {
    let when = templates::short_start(mail.starts_at, mail.zone);
    let (service, business) = (&mail.service_name, &mail.tenant_name);
    let subject = match kind {
        MailKind::ClientBooked => format!("Booked: {service} at {business}, {when}"),
        MailKind::ClientPending => {
            format!("Request received: {service} at {business}, {when} (awaiting confirmation)")
        }
        MailKind::ClientConfirmed => format!("Confirmed: {service} at {business}, {when}"),
        MailKind::ClientDeclined => format!("Declined: {service} at {business}, {when}"),
        MailKind::ClientCancelled => format!("Cancelled: {service} at {business}, {when}"),
        MailKind::ClientRescheduled => format!("Moved: {service} at {business}, now {when}"),
        MailKind::OwnerNewBooking if mail.status == JobStatus::PendingConfirmation => {
            format!("New booking to confirm: {service}, {when}")
        }
        MailKind::OwnerNewBooking => format!("New booking: {service}, {when}"),
        MailKind::OwnerBookingCancelled => {
            format!("Cancelled by the client: {service}, {when}")
        }
        MailKind::OwnerBookingRescheduled if mail.status == JobStatus::PendingConfirmation => {
            format!("Moved by the client, to confirm: {service}, now {when}")
        }
        MailKind::OwnerBookingRescheduled => format!("Moved by the client: {service}, now {when}"),
        MailKind::ClientReminder => format!("Reminder: {service} at {business}, {when}"),
        MailKind::OwnerClientUnreachable => {
            format!("Client cannot be reached by email: {service}, {when}")
        }
    };
    header_text(&subject)
}

/// Renders the mail of `kind` about the job in `mail`: multipart/alternative (text, HTML),
/// wrapped with the calendar invitation in multipart/mixed for client mails. Client mails go to
/// the client's bare address with the owner as Reply-To; the owner mail goes to the tenant's
/// notification address with the client as Reply-To. Only the recipient must parse: a Reply-To
/// that does not is left out.
pub fn render(
    kind: MailKind,
    mail: &MailContext,
    settings: &MailSettings,
) -> Result<RenderedMail, RenderError> {
    let subject = subject(kind, mail);
    let manage_url = kind.is_for_client().then(|| settings.manage_url(mail));
    let view = View::new(kind, mail, &subject, &settings.public_app_url, manage_url);
    let (text, html) = templates::bodies(kind, &view)?;

    let from = mailbox(Some(&mail.tenant_name), &settings.from_address, "from")?;
    // The client's name is in the owner's mail (as Reply-To); a client mail only greets with it.
    let client_name = (!kind.is_for_client()).then_some(mail.client_name.as_str());
    let client = mailbox(client_name, &mail.client_email, "client");
    let owner = mailbox(
        Some(&mail.tenant_name),
        &mail.notification_email,
        "notification",
    );
    let (to, reply_to) = if kind.is_for_client() {
        (client, owner)
    } else {
        (owner, client)
    };
    let to = to?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject.clone());
    // Reply-To is a convenience: without it the mail still goes, where an error would stop it.
    if let Ok(reply_to) = reply_to {
        builder = builder.reply_to(reply_to);
    }
    let alternative = MultiPart::alternative_plain_html(text, html);
    let message =
        match ics::invitation(kind, mail, from.email.as_ref()) {
            Some(invitation) => {
                let content_type = ContentType::parse(&format!(
                    "text/calendar; charset=utf-8; method={}",
                    invitation.method
                ))?;
                let file = if invitation.method == "CANCEL" {
                    "cancel.ics"
                } else {
                    "invite.ics"
                };
                builder.multipart(MultiPart::mixed().multipart(alternative).singlepart(
                    Attachment::new(file.to_owned()).body(invitation.text, content_type),
                ))?
            }
            None => builder.multipart(alternative)?,
        };
    Ok(RenderedMail {
        kind,
        job_id: mail.job_id,
        from: from.email.to_string(),
        to: to.email.to_string(),
        subject,
        raw: message.formatted(),
    })
}
