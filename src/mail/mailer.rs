//! Mail transports: SMTP (lettre's client over pooled connections, `smtp.rs`), `.eml` files, or the log.

use std::str::FromStr;
use std::sync::Arc;

use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::OutgoingMail;
use crate::config::MailTransport;

/// Why a mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message could not be built (a bad address).
    #[error("cannot build the message")]
    Build(#[source] anyhow::Error),
    /// The mail server refused it for good (a 5xx reply, e.g. no such mailbox). The text is
    /// safe to log: the reply code only, never the server's words (which may quote the address).
    #[error("the mail server refused the message ({0})")]
    Rejected(String),
    /// The transport failed for now (unreachable, timeout, a 4xx reply); worth retrying. The
    /// summary is safe to log.
    #[error("cannot deliver the message ({summary})")]
    Transport {
        /// What happened, without the server's words.
        summary: String,
        /// The transport's error.
        #[source]
        source: anyhow::Error,
    },
}

enum Backend {
    Smtp(Arc<super::smtp::SmtpPool>),
    File(AsyncFileTransport<Tokio1Executor>),
    Log,
}

/// Sends mail from one sender address over one transport.
pub struct Mailer {
    from: Mailbox,
    backend: Backend,
    /// Signs every mail when `DKIM_*` are set.
    dkim: Option<super::DkimSigner>,
}

impl Mailer {
    /// Builds the transport the settings name. SMTP connections are opened on first use and
    /// kept for reuse, up to `connections` idle ones (each carries one message at a time).
    pub fn new(transport: &MailTransport, from: Mailbox, connections: u32) -> anyhow::Result<Self> {
        let backend = match transport {
            MailTransport::Smtp { url, ca_pem } => {
                Backend::Smtp(super::smtp::SmtpPool::new(url.expose_secret(), ca_pem.as_deref(), connections)?)
            }
            MailTransport::File { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("cannot create MAIL_DIR {}: {e}", dir.display()))?;
                Backend::File(AsyncFileTransport::new(dir))
            }
            MailTransport::Log => Backend::Log,
        };
        Ok(Self { from, backend, dkim: None })
    }

    /// Signs every mail with `signer` (DKIM).
    pub fn with_dkim(self, signer: Option<super::DkimSigner>) -> Self {
        Self { dkim: signer, ..self }
    }

    /// Sends one mail.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        if let Backend::Log = self.backend {
            // Development only (production refuses MAIL_TRANSPORT=log): the link is printed.
            tracing::info!(to = %mail.to, subject = %mail.subject, "mail (MAIL_TRANSPORT=log):\n{}", mail.text);
            return Ok(());
        }
        let message = self.build(mail)?;
        match &self.backend {
            Backend::Smtp(smtp) => smtp.send(&message).await,
            Backend::File(file) => file.send(message).await.map(drop).map_err(|e| MailError::Transport {
                summary: "cannot write the mail file".to_owned(),
                source: e.into(),
            }),
            Backend::Log => Ok(()),
        }
    }

    fn build(&self, mail: &OutgoingMail) -> Result<Message, MailError> {
        let to = Address::from_str(mail.to.as_str()).map_err(|e| MailError::Build(e.into()))?;
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| MailError::Build(e.into()))?;
        if let Some(dkim) = &self.dkim {
            dkim.sign(&mut message);
        }
        Ok(message)
    }
}

/// Sorts an SMTP failure into for-good and for-now, with a summary safe to log.
pub(super) fn smtp_error(e: lettre::transport::smtp::Error) -> MailError {
    let summary = match e.status() {
        Some(code) => format!("SMTP reply {code}"),
        None if e.is_timeout() => "the mail server timed out".to_owned(),
        None => "the mail server could not be reached".to_owned(),
    };
    // Only a refused mailbox is final (550 no such user, 551 not local, 553 bad name): a 5xx to
    // AUTH or MAIL FROM (bad credentials, relay denied) is the operator's to fix, and the mail
    // should go once they have.
    let mailbox_refused =
        e.is_permanent() && matches!(e.status().map(|c| c.to_string()).as_deref(), Some("550" | "551" | "553"));
    if mailbox_refused { MailError::Rejected(summary) } else { MailError::Transport { summary, source: e.into() } }
}
