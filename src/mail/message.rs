//! Mail bodies, rendered from askama templates (plain text + HTML).

use askama::Template;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Brand;
use crate::domain::Email;
use crate::i18n::{Lang, Messages};

/// A rendered mail waiting for delivery. Serializable so a durable outbox can hold it.
#[derive(Clone, Serialize, Deserialize)]
pub struct OutgoingMail {
    /// Recipient.
    pub to: Email,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl std::fmt::Debug for OutgoingMail {
    // Bodies hold sign-in links: never in Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// The sign-in mail's view, drawn from [`LoginMailFields`]: the link, when it expires, and
/// where the request came from.
#[derive(Template)]
#[template(path = "mail/login.txt")]
struct LoginMail<'a> {
    /// The language of the request that asked for the link.
    t: &'static Messages,
    /// Product name, colours and support address.
    brand: &'a Brand,
    /// The link to click.
    link: &'a str,
    /// The short code, for finishing on another device (`K7PM-2QXR`).
    code: &'a str,
    /// Minutes until the link expires.
    minutes: u64,
    /// Expiry time, UTC, e.g. "14:05 UTC".
    expires_at: &'a str,
    /// Requesting IP address.
    ip: &'a str,
    /// Requesting browser, e.g. "Firefox on Linux".
    browser: &'a str,
    /// When it was requested, e.g. "2026-11-23 13:50 UTC".
    requested_at: &'a str,
    /// The service's public address, for the footer.
    site: &'a str,
    /// The registered name of the app being signed in to, if any.
    app: Option<&'a str>,
}

/// The HTML part of [`LoginMail`].
#[derive(Template)]
#[template(path = "mail/login.html")]
struct LoginMailHtml<'a, 'b> {
    m: &'b LoginMail<'a>,
}

impl LoginMail<'_> {
    /// "Your sign-in link", naming the app when the sign-in is for one.
    fn subject(&self) -> String {
        match self.app {
            Some(app) => self.t.fill(self.t.app_mail_subject, app),
            None => self.t.mail_subject.to_owned(),
        }
    }

    /// Renders both parts into a mail for `to`.
    fn render(&self, to: Email) -> Result<OutgoingMail, askama::Error> {
        Ok(OutgoingMail {
            to,
            subject: self.subject(),
            text: Template::render(self)?,
            html: LoginMailHtml { m: self }.render()?,
        })
    }
}

/// A sign-in mail as it waits in the outbox: what it says, not how it looks. It is rendered
/// (in its language, with the sending instance's brand and host) when it is sent, so the
/// request that asked for it pays for no rendering, and the queue holds a few hundred bytes
/// per mail instead of both finished bodies.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginMailFields {
    /// Recipient.
    pub to: Email,
    /// The language of the request that asked for the link.
    pub lang: Lang,
    /// The link to click.
    pub link: String,
    /// The short code, as shown (`K7PM-2QXR`).
    pub code: String,
    /// When the link expires.
    pub expires_at: DateTime<Utc>,
    /// Requesting IP address, as shown.
    pub ip: String,
    /// Requesting browser, e.g. "Firefox on Linux".
    pub browser: String,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// The registered name of the app being signed in to (an OIDC client), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

impl std::fmt::Debug for LoginMailFields {
    // The link and the code sign someone in: never in Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginMailFields").field("to", &self.to).field("lang", &self.lang).finish_non_exhaustive()
    }
}

impl LoginMailFields {
    /// The finished mail, branded as `brand`, from the service at `site` (its host).
    pub fn render(&self, brand: &Brand, site: &str) -> Result<OutgoingMail, askama::Error> {
        let lifetime = (self.expires_at - self.requested_at).num_seconds().max(0) as u64;
        LoginMail {
            t: self.lang.messages(),
            brand,
            link: &self.link,
            code: &self.code,
            minutes: lifetime.div_ceil(60),
            expires_at: &self.expires_at.format("%H:%M UTC").to_string(),
            ip: &self.ip,
            browser: &self.browser,
            requested_at: &self.requested_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            site,
            app: self.app.as_deref(),
        }
        .render(self.to.clone())
    }
}

/// The new-device notice: when and where, and a way to say "this wasn't me".
#[derive(Template)]
#[template(path = "mail/new_device.txt")]
pub struct NewDeviceMail<'a> {
    /// The language of the request that signed in.
    pub t: &'static Messages,
    /// Product name, colours and support address.
    pub brand: &'a Brand,
    /// When (UTC).
    pub at: &'a str,
    /// Browser, e.g. "Firefox on Linux".
    pub browser: &'a str,
    /// IP address.
    pub ip: &'a str,
    /// The "this wasn't me" link.
    pub report_link: &'a str,
    /// The service's host.
    pub site: &'a str,
}

/// The HTML part of [`NewDeviceMail`].
#[derive(Template)]
#[template(path = "mail/new_device.html")]
struct NewDeviceMailHtml<'a, 'b> {
    m: &'b NewDeviceMail<'a>,
}

impl NewDeviceMail<'_> {
    /// Renders both parts into a mail for `to`.
    pub fn render(&self, to: Email) -> Result<OutgoingMail, askama::Error> {
        Ok(OutgoingMail {
            to,
            subject: self.t.new_device_subject.to_owned(),
            text: Template::render(self)?,
            html: NewDeviceMailHtml { m: self }.render()?,
        })
    }
}

/// A notice that the account's sign-in changed (a second factor added or removed, new recovery
/// codes, every session ended, a block): what and when; for the owner's own change also from
/// where, and a way to say "this wasn't me"; for an administrator's, that they made it.
#[derive(Template)]
#[template(path = "mail/account_change.txt")]
pub struct AccountChangeMail<'a> {
    /// The mail's language: the request's for the owner's change, the latest sign-in's for an
    /// administrator's.
    pub t: &'static Messages,
    /// Product name, colours and support address.
    pub brand: &'a Brand,
    /// What changed, as one sentence (`{0}` the site).
    pub what: &'static str,
    /// When (UTC).
    pub at: &'a str,
    /// Where the owner's change came from, and how to report it; `None` for an
    /// administrator's change (their browser and IP are not for the owner, and only an
    /// administrator can undo it: the mail says who made it instead).
    pub from: Option<ChangeOrigin<'a>>,
    /// The service's host.
    pub site: &'a str,
}

/// Where a change the owner made came from.
pub struct ChangeOrigin<'a> {
    /// Browser, e.g. "Firefox on Linux".
    pub browser: &'a str,
    /// IP address.
    pub ip: &'a str,
    /// The "this wasn't me" link.
    pub report_link: &'a str,
}

/// The HTML part of [`AccountChangeMail`].
#[derive(Template)]
#[template(path = "mail/account_change.html")]
struct AccountChangeMailHtml<'a, 'b> {
    m: &'b AccountChangeMail<'a>,
}

impl AccountChangeMail<'_> {
    /// Renders both parts into a mail for `to`.
    pub fn render(&self, to: Email) -> Result<OutgoingMail, askama::Error> {
        Ok(OutgoingMail {
            to,
            subject: self.t.change_subject.to_owned(),
            text: Template::render(self)?,
            html: AccountChangeMailHtml { m: self }.render()?,
        })
    }
}
