//! How mail leaves and how it reads: `MAIL_TRANSPORT`, `SMTP_URL`, `SMTP_CA_FILE`, `MAIL_DIR`, `MAIL_FROM`,
//! `PRODUCT_NAME` and `SUPPORT_EMAIL`.

use std::path::PathBuf;

use lettre::message::Mailbox;
use secrecy::SecretString;
use url::Url;

use super::reader::Reader;
use crate::domain::{Email, is_loopback};

/// How mail leaves the service.
#[derive(Debug)]
pub enum MailTransport {
    /// Printed to the log, link and all (development only).
    Log,
    /// Written as `.eml` files to a folder (development only).
    File {
        /// The folder written to.
        dir: PathBuf,
    },
    /// Sent over SMTP (STARTTLS, implicit TLS, or plaintext to loopback only).
    Smtp {
        /// `smtp://` / `smtps://` URL; may hold credentials.
        url: SecretString,
        /// `SMTP_CA_FILE`: CA certificates (PEM) trusted for the server, besides the webpki roots.
        ca_pem: Option<Vec<u8>>,
    },
}

/// The mails' branding, in one place: the product's name, colours and where to get help.
/// Mails use no images, so they read the same in clients that block them. The name and the
/// support address come from settings (`PRODUCT_NAME`, `SUPPORT_EMAIL`); the colours are here.
#[derive(Debug, Clone)]
pub struct Brand {
    /// The product's name, as people know it.
    pub product: String,
    /// Buttons and the code.
    pub accent: &'static str,
    /// Text on the accent and danger colours.
    pub on_accent: &'static str,
    /// The "this wasn't me" button.
    pub danger: &'static str,
    /// Body text.
    pub text: &'static str,
    /// The small print.
    pub muted: &'static str,
    /// Where people can write for help, if anywhere.
    pub support: Option<String>,
}

impl Brand {
    /// `product`'s branding with the house colours.
    pub fn new(product: impl Into<String>, support: Option<String>) -> Self {
        Self {
            product: product.into(),
            accent: "#1f5fbf",
            on_accent: "#ffffff",
            danger: "#b3261e",
            text: "#1d2430",
            muted: "#5b6472",
            support,
        }
    }
}

impl Default for Brand {
    fn default() -> Self {
        Self::new("latchkey", None)
    }
}

impl Reader<'_> {
    /// `MAIL_TRANSPORT` and what it needs (`SMTP_URL`, `MAIL_DIR`).
    pub(super) fn mail_transport(&mut self, prod: bool) -> MailTransport {
        let kind = self.get("MAIL_TRANSPORT").unwrap_or_else(|| if prod { "smtp" } else { "log" }.to_owned());
        match kind.as_str() {
            "smtp" => {
                let Some(url) = self.get("SMTP_URL") else {
                    self.problem(
                        "SMTP_URL",
                        "is required with MAIL_TRANSPORT=smtp (e.g. smtps://user:pass@smtp.example.com)",
                    );
                    return MailTransport::Log;
                };
                let tls = match check_smtp_url(&url) {
                    Ok(tls) => tls,
                    Err(message) => {
                        self.problem("SMTP_URL", message);
                        true
                    }
                };
                let ca_pem = self.get("SMTP_CA_FILE").and_then(|path| self.ca_pem("SMTP_CA_FILE", &path));
                if ca_pem.is_some() && !tls {
                    self.problem("SMTP_CA_FILE", "is set, but SMTP_URL does not use TLS (smtps:// or ?tls=required)");
                }
                MailTransport::Smtp { url: SecretString::from(url), ca_pem }
            }
            "log" | "file" if prod => {
                self.problem("MAIL_TRANSPORT", format!("`{kind}` is for development; production needs `smtp`"));
                MailTransport::Log
            }
            "log" => MailTransport::Log,
            "file" => MailTransport::File {
                dir: PathBuf::from(self.get("MAIL_DIR").unwrap_or_else(|| "mail-out".to_owned())),
            },
            other => {
                self.problem("MAIL_TRANSPORT", format!("`{other}` is not `smtp`, `file` or `log`"));
                MailTransport::Log
            }
        }
    }

    /// `PRODUCT_NAME` and `SUPPORT_EMAIL`.
    pub(super) fn brand(&mut self) -> Brand {
        let product = self.get("PRODUCT_NAME").unwrap_or_else(|| "latchkey".to_owned());
        if product.trim().is_empty() || product.chars().count() > 64 || product.chars().any(char::is_control) {
            self.problem("PRODUCT_NAME", "must be 1–64 characters on one line (the name mails sign with)");
        }
        let support = self.get("SUPPORT_EMAIL").and_then(|raw| match Email::parse(&raw) {
            Ok(email) => Some(email.to_string()),
            Err(e) => {
                self.problem("SUPPORT_EMAIL", format!("`{raw}` is not an email address: {e}"));
                None
            }
        });
        Brand::new(product.trim(), support)
    }

    /// `MAIL_FROM`: required in production.
    pub(super) fn mail_from(&mut self, prod: bool) -> Option<Mailbox> {
        let raw = match self.get("MAIL_FROM") {
            Some(raw) => raw,
            None if prod => {
                self.problem("MAIL_FROM", "is required in production (e.g. `Example Login <login@example.com>`)");
                return None;
            }
            None => "latchkey <login@localhost>".to_owned(),
        };
        let parsed = raw.parse().ok();
        if parsed.is_none() {
            self.problem("MAIL_FROM", format!("`{raw}` is not an address like `Example Login <login@example.com>`"));
        }
        parsed
    }
}

/// SMTP must be encrypted unless the server is on this machine. `Ok(true)` when it is encrypted
/// (`smtps://`, or STARTTLS asked for).
fn check_smtp_url(raw: &str) -> Result<bool, String> {
    let url = Url::parse(raw).map_err(|_| "is not a URL like smtps://user:pass@smtp.example.com".to_owned())?;
    let host = url.host_str().unwrap_or_default();
    let loopback = is_loopback(&url);
    let tls_values: Vec<_> = url.query_pairs().filter(|(k, _)| k == "tls").map(|(_, v)| v.into_owned()).collect();
    if tls_values.len() > 1 {
        return Err("gives `tls=` more than once".to_owned());
    }
    let starttls_required = tls_values.first().is_some_and(|v| v == "required");
    // `opportunistic` is only accepted to loopback (below), and still asks for STARTTLS.
    let starttls = !tls_values.is_empty();
    match url.scheme() {
        "smtps" => Ok(true),
        "smtp" if starttls_required || loopback => Ok(starttls),
        "smtp" => Err(format!(
            "plaintext SMTP to {host} is refused: use smtps:// or smtp://…?tls=required (plaintext is allowed only to loopback)"
        )),
        other => Err(format!("`{other}://` is not smtp:// or smtps://")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_plaintext_only_to_loopback() {
        assert_eq!(check_smtp_url("smtp://127.0.0.1:2525"), Ok(false));
        assert_eq!(check_smtp_url("smtp://127.0.0.1:2525?tls=opportunistic"), Ok(true));
        assert!(check_smtp_url("smtp://localhost:25").is_ok());
        assert!(check_smtp_url("smtp://[::1]:25").is_ok());
        assert_eq!(check_smtp_url("smtps://u:p@smtp.example.com"), Ok(true));
        assert_eq!(check_smtp_url("smtp://smtp.example.com:587?tls=required"), Ok(true));
        assert!(check_smtp_url("smtp://smtp.example.com:25").is_err());
        assert!(check_smtp_url("smtp://smtp.example.com:587?tls=opportunistic").is_err());
        // One `tls=` only: the client would use the first, the check must not use another.
        assert!(check_smtp_url("smtp://smtp.example.com:587?tls=opportunistic&tls=required").is_err());
        assert!(check_smtp_url("smtp://smtp.example.com:587?tls=required&tls=required").is_err());
    }
}
