//! New-device notices: a browser is known by its `__Host-device` cookie (only a keyed hash of
//! it is stored per user). A sign-in from a browser the account has not seen — other than the
//! account's first — mails the person, with a "this wasn't me" link.

use std::time::Duration;

use super::service::{SignIn, SignInError};
use crate::crypto;
use crate::domain::{Email, EventKind, RequestOrigin, UserId};
use crate::i18n::Lang;
use crate::mail::NewDeviceMail;
use crate::store::{Report, new_link_generation};

/// How long a "this wasn't me" link works.
pub const REPORT_TTL: Duration = Duration::from_secs(7 * 86_400);

impl SignIn {
    /// Records the browser `device` for the user; mails a notice when it is new to an account
    /// that has signed in elsewhere before (and the policy wants notices), in `lang`: the
    /// language of the request that signed in (remembered for the account, see
    /// [`SignIn::account_lang`]).
    pub async fn note_device(
        &self,
        lang: Lang,
        user: &UserId,
        email: &Email,
        device: &str,
        origin: &RequestOrigin,
    ) -> Result<(), SignInError> {
        let device_id = self.keyring.lookup.mac_b64(&[b"device", device.as_bytes()]);
        let (added, remembered) =
            tokio::join!(self.store.add_device(user, &device_id), self.store.set_user_lang(user, lang.tag()));
        let (new, known_before) = added?;
        remembered?;
        if !new || known_before == 0 || !self.policy.current().await?.new_device_notice {
            return Ok(());
        }
        let link = self.report_link(user, email, Some(device_id)).await?;
        let mail = NewDeviceMail {
            t: lang.messages(),
            brand: &self.brand,
            at: &self.clock.now().format("%Y-%m-%d %H:%M UTC").to_string(),
            browser: &origin.browser(),
            ip: &origin.ip_text(),
            report_link: link.as_str(),
            site: self.public_url.host_str().unwrap_or("latchkey"),
        }
        .render(email.clone())?;
        self.outbox.mail(mail).await?;
        tracing::info!(user = %user, "new-device notice sent");
        Ok(())
    }

    /// The language of the account's latest sign-in (English if none is known): for notices
    /// that no request of the person causes.
    pub async fn account_lang(&self, user: &UserId) -> Result<Lang, SignInError> {
        Ok(self.store.user_lang(user).await?.as_deref().and_then(Lang::parse).unwrap_or_default())
    }

    /// A new one-time "this wasn't me" link for the account (naming `device` when the notice is
    /// about a browser), kept for [`REPORT_TTL`].
    pub(super) async fn report_link(
        &self,
        user: &UserId,
        email: &Email,
        device: Option<String>,
    ) -> Result<url::Url, SignInError> {
        let token = crypto::random_token::<32>()?;
        let report = Report { user: user.clone(), email_lookup: self.email_lookup(email), device };
        self.store.put_report(&self.report_id(&token), &report, REPORT_TTL).await?;
        let mut link = self.public_url.clone();
        link.set_path("/account/not-me");
        link.query_pairs_mut().clear().append_pair("token", &token);
        Ok(link)
    }

    /// True when a "this wasn't me" link is live (the confirm page; does not use it).
    pub async fn report_is_live(&self, token: &str) -> Result<bool, SignInError> {
        Ok(self.store.peek_report(&self.report_id(token)).await?.is_some())
    }

    /// "This wasn't me": ends every session of the account and voids every outstanding link,
    /// so only a fresh link signs in again. Returns the account, once per link. The link is
    /// used up last: when a step fails (the store could not confirm it), pressing it again
    /// does all of it again.
    pub async fn report_not_me(&self, token: &str, origin: &RequestOrigin) -> Result<Option<UserId>, SignInError> {
        let id = self.report_id(token);
        let Some(report) = self.store.peek_report(&id).await? else { return Ok(None) };
        let ended = self.sessions.end_user(&report.user).await?;
        if let Some(device) = &report.device {
            self.store.remove_device(&report.user, device).await?;
        }
        self.store.supersede_links(&report.email_lookup, new_link_generation()).await?;
        if self.store.take_report(&id).await?.is_none() {
            return Ok(None);
        }
        self.audit.record(EventKind::SessionsRevoked, Some(&report.user), origin, "reported: not me").await;
        tracing::warn!(user = %report.user, sessions = ended, "user reported a sign-in that was not theirs");
        Ok(Some(report.user))
    }

    fn report_id(&self, token: &str) -> String {
        self.keyring.token.mac_b64(&[b"report", token.as_bytes()])
    }
}
