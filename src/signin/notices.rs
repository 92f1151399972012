//! Notices of changes to how an account signs in: a second factor added or removed, new
//! recovery codes, every session ended, a block. Each is mailed to the owner: the owner's own
//! change in the language of the request that made it, with the time, browser and IP and a
//! one-time "this wasn't me" link, as the new-device notice; an administrator's in the language
//! of the owner's latest sign-in, saying an administrator made it. A factor change is also
//! written to the audit log here; the others are audited where they are made.

use super::service::{SignIn, SignInError};
use crate::domain::{Email, EventKind, RequestOrigin, UserId};
use crate::i18n::{Lang, Messages};
use crate::mail::{AccountChangeMail, ChangeOrigin};

/// Who made a change to how an account signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadeBy {
    /// The account's owner, in a session of theirs.
    Owner,
    /// An administrator.
    Administrator,
}

/// A change to how an account signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// An authenticator app was turned on.
    TotpAdded,
    /// The authenticator app was turned off.
    TotpRemoved,
    /// The recovery codes were replaced.
    RecoveryCodesReplaced,
    /// A phone became a second factor.
    PhoneAdded,
    /// The phone was removed.
    PhoneRemoved,
    /// Every session of the account was ended, by its owner or an administrator.
    SessionsEnded,
    /// An administrator removed every second factor and recovery code.
    FactorsReset,
    /// A passkey became a second factor.
    PasskeyAdded,
    /// A passkey was removed.
    PasskeyRemoved,
    /// An administrator blocked the account, which ended every session.
    Blocked,
}

impl AccountChange {
    /// The change's name, as in the audit log and the webhook event.
    pub fn name(self) -> &'static str {
        match self {
            Self::TotpAdded => "totp_added",
            Self::TotpRemoved => "totp_removed",
            Self::RecoveryCodesReplaced => "recovery_codes_replaced",
            Self::PhoneAdded => "phone_added",
            Self::PhoneRemoved => "phone_removed",
            Self::SessionsEnded => "sessions_ended",
            Self::FactorsReset => "factors_reset",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::Blocked => "blocked",
        }
    }

    /// True for a change to the second factors (audited as such; ending sessions and a block
    /// are audited where they happen).
    pub fn is_factor_change(self) -> bool {
        !matches!(self, Self::SessionsEnded | Self::Blocked)
    }

    fn sentence(self, t: &'static Messages, by_owner: bool) -> &'static str {
        match self {
            Self::TotpAdded => t.change_totp_added,
            Self::TotpRemoved => t.change_totp_removed,
            Self::RecoveryCodesReplaced => t.change_recovery_replaced,
            Self::PhoneAdded => t.change_phone_added,
            Self::PhoneRemoved => t.change_phone_removed,
            Self::SessionsEnded if by_owner => t.change_sessions_ended,
            Self::SessionsEnded => t.change_sessions_ended_by_admin,
            Self::FactorsReset => t.change_factors_reset,
            Self::PasskeyAdded => t.change_passkey_added,
            Self::PasskeyRemoved => t.change_passkey_removed,
            Self::Blocked => t.change_blocked,
        }
    }
}

impl SignIn {
    /// Mails the owner of `user` a notice of `change`, made from `origin`, in `lang`, and
    /// audits a factor change. The owner's own change comes with the browser, IP and a "this
    /// wasn't me" link; an administrator's says an administrator made it instead, with no link
    /// (only an administrator can undo it). The mail is queued in the outbox; an error means it
    /// could not be (the store is down).
    pub async fn account_changed(
        &self,
        lang: Lang,
        user: &UserId,
        email: &Email,
        change: AccountChange,
        origin: &RequestOrigin,
        by: MadeBy,
    ) -> Result<(), SignInError> {
        if change.is_factor_change() {
            self.audit.record(EventKind::FactorChanged, Some(user), origin, change.name()).await;
        }
        let by_owner = by == MadeBy::Owner;
        let link = if by_owner { Some(self.report_link(user, email, None).await?) } else { None };
        let (browser, ip) = (origin.browser(), origin.ip_text());
        let t = lang.messages();
        let mail = AccountChangeMail {
            t,
            brand: &self.brand,
            what: change.sentence(t, by_owner),
            at: &self.clock.now().format("%Y-%m-%d %H:%M UTC").to_string(),
            from: link.as_ref().map(|link| ChangeOrigin { browser: &browser, ip: &ip, report_link: link.as_str() }),
            site: self.public_url.host_str().unwrap_or("latchkey"),
        }
        .render(email.clone())?;
        self.outbox.mail(mail).await?;
        tracing::info!(user = %user, change = change.name(), by_owner, "account-change notice queued");
        Ok(())
    }
}
