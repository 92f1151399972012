//! Outbound mail: the message type and the transports (SMTP, file, log). Requests queue mail in
//! the durable outbox (`crate::outbox`), whose worker sends it through a [`Mailer`].

mod dkim;
mod email_change;
mod goodbye;
mod mailer;
mod message;
mod smtp;

pub use dkim::DkimSigner;
pub use email_change::EmailChangeMail;
pub use goodbye::GoodbyeMail;
pub use mailer::{MailError, Mailer};
pub use message::{AccountChangeMail, ChangeOrigin, LoginMailFields, NewDeviceMail, OutgoingMail};
