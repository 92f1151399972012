//! Outbound mail: the message type, the transports (SMTP, file, log) and the outbox that
//! decouples requests from delivery.

mod mailer;
mod message;
mod outbox;

pub use mailer::{MailError, Mailer};
pub use message::{LoginMail, NewDeviceMail, OutgoingMail};
pub use outbox::{InProcessOutbox, Outbox, OutboxError, OutboxWorker};
