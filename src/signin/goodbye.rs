//! The goodbye mail after an account's deletion.

use super::service::{SignIn, SignInError};
use crate::domain::Email;
use crate::i18n::Lang;
use crate::mail::GoodbyeMail;

impl SignIn {
    /// Mails `email` that its account was deleted (`by_admin`: by an administrator, else at
    /// the owner's request), in `lang`. The mail is queued in the outbox; an error means it
    /// could not be (the store is down).
    pub async fn goodbye(&self, lang: Lang, email: &Email, by_admin: bool) -> Result<(), SignInError> {
        let t = lang.messages();
        let mail = GoodbyeMail {
            t,
            brand: &self.brand,
            what: if by_admin { t.goodbye_by_admin } else { t.goodbye_by_you },
            at: &self.clock.now().format("%Y-%m-%d %H:%M UTC").to_string(),
            site: self.public_url.host_str().unwrap_or("latchkey"),
        }
        .render(email.clone())?;
        self.outbox.mail(mail).await?;
        Ok(())
    }
}
