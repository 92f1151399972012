//! The goodbye mail: the account was deleted, by its owner or an administrator.

use askama::Template;

use super::OutgoingMail;
use crate::config::Brand;
use crate::domain::Email;
use crate::i18n::Messages;

/// The account was deleted: by whom, when, and that the address may sign up again.
#[derive(Template)]
#[template(path = "mail/goodbye.txt")]
pub struct GoodbyeMail<'a> {
    /// The language of the request that deleted it.
    pub t: &'static Messages,
    /// Product name, colours and support address.
    pub brand: &'a Brand,
    /// Who deleted it, as one sentence (`{0}` the site).
    pub what: &'static str,
    /// When (UTC).
    pub at: &'a str,
    /// The service's host.
    pub site: &'a str,
}

/// The HTML part of [`GoodbyeMail`].
#[derive(Template)]
#[template(path = "mail/goodbye.html")]
struct GoodbyeMailHtml<'a, 'b> {
    m: &'b GoodbyeMail<'a>,
}

impl GoodbyeMail<'_> {
    /// Renders both parts into a mail for `to`.
    pub fn render(&self, to: Email) -> Result<OutgoingMail, askama::Error> {
        Ok(OutgoingMail {
            to,
            subject: self.t.goodbye_subject.to_owned(),
            text: Template::render(self)?,
            html: GoodbyeMailHtml { m: self }.render()?,
        })
    }
}
