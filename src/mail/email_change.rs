//! The mails of a change of address: the link to the new address (or, when it already has an
//! account, why nothing changed), the notice to the old one with its "this wasn't me" link,
//! an administrator's change, and an undone change. One layout: a lead sentence, the
//! request's details, a button, a code, a closing sentence.

use askama::Template;

use super::OutgoingMail;
use crate::config::Brand;
use crate::domain::Email;
use crate::i18n::Messages;

/// One mail about a change of address.
#[derive(Template)]
#[template(path = "mail/email_change.txt")]
pub struct EmailChangeMail<'a> {
    /// The language it is written in.
    pub t: &'static Messages,
    /// Product name, colours and support address.
    pub brand: &'a Brand,
    /// The subject (a catalogue entry).
    pub subject: &'static str,
    /// What happened, placeholders filled.
    pub lead: String,
    /// When, from which browser and IP, if the mail says.
    pub details: Option<(String, String, String)>,
    /// A button's label and link, if any (built from `PUBLIC_URL`).
    pub button: Option<(&'static str, String)>,
    /// The code to type instead of opening the link, if any.
    pub code: Option<String>,
    /// The closing sentence, placeholders filled.
    pub closing: String,
    /// The button is a warning ("this wasn't me"), not the expected next step.
    pub danger: bool,
}

/// The HTML part of [`EmailChangeMail`].
#[derive(Template)]
#[template(path = "mail/email_change.html")]
struct EmailChangeMailHtml<'a, 'b> {
    m: &'b EmailChangeMail<'a>,
}

impl EmailChangeMail<'_> {
    /// Renders both parts into a mail for `to`.
    pub fn render(&self, to: Email) -> Result<OutgoingMail, askama::Error> {
        Ok(OutgoingMail {
            to,
            subject: self.subject.to_owned(),
            text: Template::render(self)?,
            html: EmailChangeMailHtml { m: self }.render()?,
        })
    }
}
