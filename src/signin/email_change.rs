//! Changing an account's address: asked for from a session (which the caller has checked is
//! fresh), proven by a link and code mailed to the *new* address with the sign-in link's rules
//! (bound to the asking browser, a code elsewhere, single use, `LINK_TTL`), and undone by a
//! "this wasn't me" link mailed to the *old* address (7 days). An administrator's change needs
//! no link; both addresses are told. The account's id (`sub`) never changes.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::binding;
use super::service::{LinkProblem, MAX_CODE_TRIES, SignIn, SignInError};
use crate::crypto;
use crate::domain::{CrossDevice, Email, EventKind, LinkToken, RequestOrigin, ShortCode, UserId};
use crate::i18n::Lang;
use crate::mail::EmailChangeMail;
use crate::ratelimit::LimitedAction;
use crate::store::{EmailMoveSource, EmailMoved, EmailRevert, PendingEmailChange, User};

/// How long the old address's "this wasn't me" link works.
pub const REVERT_TTL: Duration = Duration::from_secs(7 * 86_400);

/// A change was asked for: the asking browser's binding cookie (the same answer whether or not
/// the new address has an account).
pub struct EmailChangeRequested {
    /// The binding cookie's value (`<link id>.<secret>`).
    pub cookie: String,
    /// How long the link works.
    pub ttl: Duration,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// What opening the link to the new address shows.
pub enum EmailChangeView {
    /// The browser that asked (or policy `click`): one button makes the change.
    Confirm(PendingEmailChange),
    /// Another browser (policy `code` or `approve`): the code from the mail makes it here.
    EnterCode(PendingEmailChange),
    /// Another browser under policy `deny`: only the browser that asked can finish.
    OtherBrowserDenied(PendingEmailChange),
}

/// How a redemption ended.
pub enum EmailChangeOutcome {
    /// The account moved: its record now, and the address it left.
    Changed {
        /// The record with the new address.
        user: User,
        /// The address it had.
        from: Email,
    },
    /// The new address meanwhile belongs to another account: nothing changed.
    Taken(Email),
    /// The signup list, narrowed since the change was asked for, leaves the new address out:
    /// nothing changed.
    NotAllowed(Email),
}

/// How a "this wasn't me" link ended.
pub enum RevertOutcome {
    /// The old address is back.
    Restored {
        /// The record with the old address again.
        user: User,
        /// The address the change had moved to.
        from: Email,
    },
    /// The old address (here) belongs to another account now: the address stays.
    Taken(Email),
}

/// Who changed an address, for the audit log and the notices.
#[derive(Clone, Copy)]
pub enum ChangedBy<'a> {
    /// The person, by the link to the new address.
    Owner,
    /// An administrator (named).
    Admin(&'a str),
    /// The person, with the "this wasn't me" link.
    Revert,
}

impl SignIn {
    /// Asks to move `user` to `to`: counts the request against the account and against the new
    /// mailbox (whose sign-in link budget it shares: mail flooding) before anything is checked,
    /// then mails the new address a link and a code — or, when it already has an account, why
    /// nothing will change. The answer and the store work are the same either way.
    pub async fn request_email_change(
        &self,
        user: &User,
        to: &Email,
        origin: &RequestOrigin,
        lang: Lang,
    ) -> Result<EmailChangeRequested, SignInError> {
        let mailbox = to.mailbox();
        let (per_user, per_mailbox) = tokio::join!(
            self.limiter.hit(LimitedAction::EmailChangePerUser, user.id.as_str()),
            self.limiter.hit(LimitedAction::LoginPerEmail, &mailbox),
        );
        per_user?;
        per_mailbox?;
        let owner = self.store.find_user(&self.email_lookup(to)).await?;
        let policy = self.policy.current().await?;
        let ttl = policy.link_ttl();
        let now = self.clock.now();
        let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15));
        let token = LinkToken::generate()?;
        let code = ShortCode::generate()?;
        let id = token.attempt_id(&self.keyring.token);
        let browser = binding::create(&id, &self.keyring.token)?;
        let change = PendingEmailChange {
            id: id.as_str().to_owned(),
            user_id: user.id.clone(),
            from: user.email.clone(),
            to: to.clone(),
            code: self.code_hash(&id, &code),
            browser: browser.proof,
            requested_from: origin.clone(),
            created_at: now,
            expires_at,
        };
        // Kept for a taken address too (its link is never mailed, and a move to a taken
        // address is refused anyway): the same work for every address.
        self.store.put_email_change(&change, ttl).await?;
        let t = lang.messages();
        let site = self.site();
        let mail = if owner.is_some_and(|owner| owner.id != user.id) {
            EmailChangeMail {
                t,
                brand: &self.brand,
                subject: t.email_change_taken_subject,
                lead: t.fill(t.email_change_taken_body, site),
                details: None,
                button: None,
                code: None,
                closing: t.email_change_taken_closing.to_owned(),
                danger: false,
            }
        } else {
            EmailChangeMail {
                t,
                brand: &self.brand,
                subject: t.email_change_verify_subject,
                lead: t.fill2(t.email_change_verify_body, site, user.email.masked()),
                details: Some(self.when_where(now, origin)),
                button: Some((t.email_change_verify_button, self.change_link(&user.id, &token).into())),
                code: Some(code.display()),
                closing: t.fill(t.email_change_verify_closing, expires_at.format("%Y-%m-%d %H:%M UTC")),
                danger: false,
            }
        };
        let (queued, ()) = tokio::join!(
            self.outbox.mail(mail.render(to.clone())?),
            self.audit.record(EventKind::EmailChangeRequested, Some(&user.id), origin, ""),
        );
        queued?;
        tracing::info!(user = %user.id, to = %to.masked(), "change of address asked for");
        Ok(EmailChangeRequested { cookie: browser.cookie, ttl, expires_at })
    }

    /// What the link leads to, without using it (mail scanners follow links).
    pub async fn preview_email_change(
        &self,
        user: &UserId,
        token: &LinkToken,
        cookie: Option<&str>,
        origin: &RequestOrigin,
    ) -> Result<EmailChangeView, SignInError> {
        self.check_failures(origin).await?;
        let change = self.live_change(token, self.store.get_email_change(user).await?, origin).await?;
        let same_browser = self.change_from_this_browser(token, &change, cookie);
        Ok(match (same_browser, self.policy.current().await?.cross_device) {
            (true, _) | (false, CrossDevice::Click) => EmailChangeView::Confirm(change),
            (false, CrossDevice::Deny) => EmailChangeView::OtherBrowserDenied(change),
            (false, CrossDevice::Code | CrossDevice::Approve) => EmailChangeView::EnterCode(change),
        })
    }

    /// Uses the link: in the browser that asked (or anywhere under policy `click`). Of
    /// concurrent redemptions, exactly one changes the address.
    pub async fn redeem_email_link(
        &self,
        user: &UserId,
        token: &LinkToken,
        cookie: Option<&str>,
        origin: &RequestOrigin,
    ) -> Result<EmailChangeOutcome, SignInError> {
        self.check_failures(origin).await?;
        let change = self.live_change(token, self.store.get_email_change(user).await?, origin).await?;
        if !self.change_from_this_browser(token, &change, cookie)
            && self.policy.current().await?.cross_device != CrossDevice::Click
        {
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        self.move_to(change).await
    }

    /// Uses the code from the mail (with the link's token, in another browser). Every guess
    /// spends one of [`MAX_CODE_TRIES`] before it is checked; after the last the change is gone.
    /// The token is checked first, by a read only: a made-up token (the account's id is no
    /// secret) spends none of the owner's tries.
    pub async fn redeem_email_code(
        &self,
        user: &UserId,
        token: &LinkToken,
        cookie: Option<&str>,
        typed: &str,
        origin: &RequestOrigin,
    ) -> Result<EmailChangeOutcome, SignInError> {
        self.check_failures(origin).await?;
        let code = ShortCode::parse(typed).ok_or(SignInError::MalformedCode)?;
        self.live_change(token, self.store.get_email_change(user).await?, origin).await?;
        let taken = self.store.take_email_change_try(user, MAX_CODE_TRIES).await?;
        let tries = taken.as_ref().map_or(0, |(_, tries)| *tries);
        let change = self.live_change(token, taken.map(|(change, _)| change), origin).await?;
        if self.policy.current().await?.cross_device == CrossDevice::Deny
            && !self.change_from_this_browser(token, &change, cookie)
        {
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        let id = token.attempt_id(&self.keyring.token);
        if !crypto::constant_time_eq(self.code_hash(&id, &code).as_bytes(), change.code.as_bytes()) {
            self.record_failure(origin).await?;
            self.audit.record(EventKind::LinkFailed, Some(user), origin, "wrong_email_change_code").await;
            if tries >= MAX_CODE_TRIES {
                return Err(SignInError::Link(LinkProblem::Dead(change.to)));
            }
            return Err(SignInError::WrongCode(MAX_CODE_TRIES - tries));
        }
        self.move_to(change).await
    }

    /// The pending change behind `token`, if it is live; otherwise the problem (an unknown
    /// link counts as a failure against the client network).
    async fn live_change(
        &self,
        token: &LinkToken,
        stored: Option<PendingEmailChange>,
        origin: &RequestOrigin,
    ) -> Result<PendingEmailChange, SignInError> {
        let id = token.attempt_id(&self.keyring.token);
        let change = stored.filter(|c| crypto::constant_time_eq(c.id.as_bytes(), id.as_str().as_bytes()));
        let Some(change) = change else {
            self.record_failure(origin).await?;
            self.audit.record(EventKind::LinkFailed, None, origin, "unknown_email_change").await;
            return Err(SignInError::Link(LinkProblem::Unknown));
        };
        if self.clock.now() >= change.expires_at {
            return Err(SignInError::Link(LinkProblem::Expired(change.to)));
        }
        Ok(change)
    }

    fn change_from_this_browser(&self, token: &LinkToken, change: &PendingEmailChange, cookie: Option<&str>) -> bool {
        binding::matches(cookie, &token.attempt_id(&self.keyring.token), &change.browser, &self.keyring.token)
    }

    async fn move_to(&self, change: PendingEmailChange) -> Result<EmailChangeOutcome, SignInError> {
        // A change asked for from an address the account no longer has (an administrator
        // changed it meanwhile) is void: it would leave that address's index entry behind.
        let current = self.store.get_user(&change.user_id).await?;
        if current.is_none_or(|u| u.email != change.from) {
            return Err(SignInError::Link(LinkProblem::Superseded(change.to)));
        }
        // The signup list was checked when the change was asked for; one narrowed since then
        // holds too, as it does for a sign-in's link.
        if !self.policy.current().await?.signup_allowed(&change.to) {
            return Ok(EmailChangeOutcome::NotAllowed(change.to));
        }
        let source = EmailMoveSource::Change(change.id.clone());
        let (from, to) = (self.email_lookup(&change.from), self.email_lookup(&change.to));
        match self.store.move_email(&change.user_id, &source, &from, &to, &change.to).await? {
            EmailMoved::Moved(user) => Ok(EmailChangeOutcome::Changed { user, from: change.from }),
            EmailMoved::Taken => Ok(EmailChangeOutcome::Taken(change.to)),
            EmailMoved::Gone => Err(SignInError::Link(LinkProblem::Used(change.to))),
        }
    }

    /// After a change of address: audits it and mails the address it left (with a "this
    /// wasn't me" link, 7 days, unless an administrator made it or it was an undo) and, for an
    /// administrator's change or an undo, the address it has now. In `lang`.
    pub async fn email_changed(
        &self,
        lang: Lang,
        user: &User,
        from: &Email,
        by: ChangedBy<'_>,
        origin: &RequestOrigin,
    ) -> Result<(), SignInError> {
        let detail = match by {
            ChangedBy::Owner => "by user".to_owned(),
            ChangedBy::Admin(name) => format!("by {name}"),
            ChangedBy::Revert => "reverted by user".to_owned(),
        };
        self.audit.record(EventKind::EmailChanged, Some(&user.id), origin, &detail).await;
        let t = lang.messages();
        let site = self.site();
        let now = self.clock.now();
        let base = |subject, lead: String, closing: String| EmailChangeMail {
            t,
            brand: &self.brand,
            subject,
            lead,
            details: Some(self.when_where(now, origin)),
            button: None,
            code: None,
            closing,
            danger: false,
        };
        match by {
            ChangedBy::Owner => {
                let token = crypto::random_token::<32>()?;
                let revert = EmailRevert {
                    user_id: user.id.clone(),
                    from: from.clone(),
                    to: user.email.clone(),
                    expires_at: now + chrono::Duration::from_std(REVERT_TTL).unwrap_or(chrono::Duration::days(7)),
                    seq: 0,
                };
                self.store.put_email_revert(&self.revert_id(&token), &revert, REVERT_TTL).await?;
                let mut mail = base(
                    t.email_change_notice_subject,
                    t.fill2(t.email_change_notice_body, site, user.email.masked()),
                    t.email_change_notice_closing.to_owned(),
                );
                mail.button = Some((t.email_change_notice_button, self.revert_link(&user.id, &token).into()));
                mail.danger = true;
                self.outbox.mail(mail.render(from.clone())?).await?;
            }
            ChangedBy::Admin(_) => {
                // No "this wasn't me": an administrator decided it (often because the old
                // mailbox is lost or no longer the person's), so whoever reads the old mailbox
                // must not be able to undo it; only an administrator can. And no browser or
                // IP: they would be the administrator's.
                let mut old = base(
                    t.email_change_notice_subject,
                    t.fill2(t.email_change_admin_old_body, site, user.email.masked()),
                    t.email_change_admin_old_closing.to_owned(),
                );
                old.details = None;
                let mut new = base(
                    t.email_change_admin_new_subject,
                    t.fill2(t.email_change_admin_new_body, site, from.masked()),
                    t.email_change_admin_closing.to_owned(),
                );
                new.details = None;
                self.outbox.mail(old.render(from.clone())?).await?;
                self.outbox.mail(new.render(user.email.clone())?).await?;
            }
            ChangedBy::Revert => {
                let back = base(
                    t.email_change_reverted_subject,
                    t.fill2(t.email_change_reverted_body, site, user.email.as_str()),
                    t.email_change_admin_closing.to_owned(),
                );
                self.outbox.mail(back.render(user.email.clone())?).await?;
            }
        }
        tracing::info!(user = %user.id, "address changed");
        Ok(())
    }

    /// An administrator moves `user` to `to`: no link; `Ok(None)` when `to` belongs to another
    /// account (nothing changed).
    pub async fn admin_change_email(&self, user: &User, to: &Email) -> Result<Option<User>, SignInError> {
        let (from, to_lookup) = (self.email_lookup(&user.email), self.email_lookup(to));
        match self.store.move_email(&user.id, &EmailMoveSource::Admin, &from, &to_lookup, to).await? {
            EmailMoved::Moved(user) => Ok(Some(user)),
            EmailMoved::Taken => Ok(None),
            EmailMoved::Gone => Err(SignInError::Link(LinkProblem::Unknown)),
        }
    }

    /// The "this wasn't me" link's change, if the link is live (the confirm page; does not use
    /// it).
    pub async fn revert_for(&self, user: &UserId, token: &str) -> Result<Option<EmailRevert>, SignInError> {
        let revert = self.store.get_email_revert(user, &self.revert_id(token)).await?;
        Ok(revert.filter(|r| self.clock.now() < r.expires_at))
    }

    /// "This wasn't me": restores the address the link was sent to, if it is still free, and
    /// voids every other revert link of the account. The caller ends every session whatever
    /// the outcome. `Ok(None)`: the link is not live.
    pub async fn revert_email_change(&self, user: &UserId, token: &str) -> Result<Option<RevertOutcome>, SignInError> {
        let Some(revert) = self.revert_for(user, token).await? else { return Ok(None) };
        let Some(current) = self.store.get_user(user).await? else { return Ok(None) };
        let source = EmailMoveSource::Revert(self.revert_id(token));
        let (from, to) = (self.email_lookup(&current.email), self.email_lookup(&revert.from));
        Ok(match self.store.move_email(user, &source, &from, &to, &revert.from).await? {
            EmailMoved::Moved(restored) => Some(RevertOutcome::Restored { user: restored, from: current.email }),
            EmailMoved::Taken => Some(RevertOutcome::Taken(revert.from)),
            EmailMoved::Gone => None,
        })
    }

    fn site(&self) -> &str {
        self.public_url.host_str().unwrap_or("latchkey")
    }

    fn when_where(&self, at: DateTime<Utc>, origin: &RequestOrigin) -> (String, String, String) {
        (at.format("%Y-%m-%d %H:%M UTC").to_string(), origin.browser(), origin.ip_text())
    }

    /// The store id of a "this wasn't me" link for a change of address.
    fn revert_id(&self, token: &str) -> String {
        self.keyring.token.mac_b64(&[b"email-revert", token.as_bytes()])
    }

    /// `PUBLIC_URL` + `/account/email/verify?user=…&token=…`.
    fn change_link(&self, user: &UserId, token: &LinkToken) -> url::Url {
        let mut url = self.public_url.clone();
        url.set_path("/account/email/verify");
        url.query_pairs_mut().clear().append_pair("user", user.as_str()).append_pair("token", token.expose());
        url
    }

    /// `PUBLIC_URL` + `/account/email/revert?user=…&token=…`.
    fn revert_link(&self, user: &UserId, token: &str) -> url::Url {
        let mut url = self.public_url.clone();
        url.set_path("/account/email/revert");
        url.query_pairs_mut().clear().append_pair("user", user.as_str()).append_pair("token", token);
        url
    }
}
