//! The five booking mails: askama templates compiled into the binary, an `.ics` invitation on
//! every client mail, MIME built with lettre, and delivery through SES v2 (or a local folder,
//! or memory in tests). Mails wait in the outbox table; [`deliver_due`] sends the due ones.

pub mod delivery;
mod feed;
mod ics;
mod mailer;
mod render;
mod templates;

pub use delivery::{
    DeliveryReport, Unsent, deliver_due, record_delivery, record_sent, relay, send_leased,
};
pub use feed::calendar_feed;
pub use mailer::{Mailer, SendError, sdk_config, sdk_config_loader};
pub use render::{MailSettings, RenderError, RenderedMail, render};
