//! Looking at and redeeming links and codes.

use crate::crypto;
use crate::domain::{AttemptId, CrossDevice, EventKind, LinkToken, RequestOrigin, ShortCode};
use crate::ratelimit::LimitedAction;
use crate::store::{LinkAttempt, Redemption};

use super::binding;
use super::service::{LinkProblem, MAX_CODE_TRIES, SignIn, SignInError, SignInOutcome};

/// What opening a link shows.
#[derive(Debug)]
pub enum LinkView {
    /// The browser that asked (or policy `click`): one button finishes the sign-in.
    OneClick(LinkAttempt),
    /// Another browser under policy `code`: the code from the mail finishes it here.
    EnterCode(LinkAttempt),
    /// Another browser under policy `deny`: only the browser that asked can finish.
    OtherBrowserDenied(LinkAttempt),
    /// Another browser under policy `approve`: typing the number the browser that asked shows
    /// approves it (or the code from the mail finishes here).
    Approve(LinkAttempt),
}

impl SignIn {
    /// What the link leads to, without consuming it (mail scanners follow GET links).
    /// `attempt_cookie` is this browser's `__Host-attempt`, if any.
    pub async fn preview(
        &self,
        token: &LinkToken,
        attempt_cookie: Option<&str>,
        origin: &RequestOrigin,
    ) -> Result<LinkView, SignInError> {
        self.check_failures(origin).await?;
        let id = token.attempt_id(&self.keyring.token);
        let state = self.store.peek_attempt(&id, self.clock.now()).await?;
        let attempt = self.usable(state, origin).await?;
        self.check_generation(&attempt).await?;
        self.record_for(EventKind::LinkOpened, &attempt, origin, "").await;
        Ok(match (self.same_browser(&id, &attempt, attempt_cookie), self.policy.current().await?.cross_device) {
            (true, _) | (false, CrossDevice::Click) => LinkView::OneClick(attempt),
            (false, CrossDevice::Code) => LinkView::EnterCode(attempt),
            (false, CrossDevice::Deny) => LinkView::OtherBrowserDenied(attempt),
            (false, CrossDevice::Approve) if attempt.number.is_some() => LinkView::Approve(attempt),
            (false, CrossDevice::Approve) => LinkView::EnterCode(attempt),
        })
    }

    /// Consumes the link and starts a session — in the browser that asked, or anywhere under
    /// policy `click`. Of concurrent redemptions on any instances, exactly one succeeds.
    pub async fn redeem_link(
        &self,
        token: &LinkToken,
        attempt_cookie: Option<&str>,
        origin: RequestOrigin,
    ) -> Result<SignInOutcome, SignInError> {
        self.check_failures(&origin).await?;
        let id = token.attempt_id(&self.keyring.token);
        let state = self.store.peek_attempt(&id, self.clock.now()).await?;
        let attempt = self.usable(state, &origin).await?;
        self.check_generation(&attempt).await?;
        let cross_device = self.policy.current().await?.cross_device;
        if !self.same_browser(&id, &attempt, attempt_cookie) && cross_device != CrossDevice::Click {
            return Err(SignInError::NeedsCode(Box::new(attempt)));
        }
        let state = self.store.redeem_attempt(&id, self.clock.now()).await?;
        let attempt = self.usable(state, &origin).await?;
        self.finish(attempt, origin).await
    }

    /// Finishes a sign-in with the mailed code: on another device (with the link's `token`),
    /// or in the browser that asked (its `__Host-attempt` names the attempt). Every guess
    /// spends one of [`MAX_CODE_TRIES`] before it is checked; the last wrong one ends the
    /// attempt, link and code alike.
    pub async fn redeem_code(
        &self,
        token: Option<&LinkToken>,
        attempt_cookie: Option<&str>,
        typed: &str,
        origin: RequestOrigin,
    ) -> Result<SignInOutcome, SignInError> {
        self.check_failures(&origin).await?;
        let id = match token {
            Some(token) => token.attempt_id(&self.keyring.token),
            None => self.bound_attempt(attempt_cookie, &origin).await?,
        };
        let code = ShortCode::parse(typed).ok_or(SignInError::MalformedCode)?;
        let state = self.store.take_code_try(&id, self.clock.now(), MAX_CODE_TRIES).await?;
        let tries = state.as_ref().map_or(0, |(_, tries)| *tries);
        let attempt = self.usable(state.map(|(state, _)| state), &origin).await?;
        if token.is_some()
            && self.policy.current().await?.cross_device == CrossDevice::Deny
            && !self.same_browser(&id, &attempt, attempt_cookie)
        {
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        if !crypto::constant_time_eq(self.code_hash(&id, &code).as_bytes(), attempt.code.as_bytes()) {
            self.record_failure(&origin).await?;
            self.record_for(EventKind::LinkFailed, &attempt, &origin, "wrong_code").await;
            if tries >= MAX_CODE_TRIES {
                self.store.kill_attempt(&id).await?;
                return Err(SignInError::Link(LinkProblem::Dead(attempt.email)));
            }
            return Err(SignInError::WrongCode(MAX_CODE_TRIES - tries));
        }
        let state = self.store.redeem_attempt(&id, self.clock.now()).await?;
        let attempt = self.usable(state, &origin).await?;
        self.record_for(EventKind::CodeAccepted, &attempt, &origin, "").await;
        self.finish(attempt, origin).await
    }

    /// After the attempt is consumed: claim the address's link generation (so this sign-in
    /// voids every other outstanding link, and of two racing links only one wins), find or
    /// create the user, then either start the session or open the second-factor step.
    pub(super) async fn finish(
        &self,
        attempt: LinkAttempt,
        origin: RequestOrigin,
    ) -> Result<SignInOutcome, SignInError> {
        if !self.store.advance_generation(&attempt.email_lookup, attempt.generation).await? {
            return Err(SignInError::Link(LinkProblem::Superseded(attempt.email)));
        }
        // Read afresh, not from the 2-second cache: a store wiped a moment ago must not get a
        // new account (a new `sub`, no factors) for someone who has one.
        self.policy.guard().check_fresh().await?;
        // A new address the signup list leaves out gets no account, whatever brought it its
        // link: the worker checks the list before it sends a sign-in mail, and a list narrowed
        // since then holds here. Read only for an address outside the list.
        if !self.policy.current().await?.signup_allowed(&attempt.email)
            && self.store.find_user(&attempt.email_lookup).await?.is_none()
        {
            self.audit.record(EventKind::LinkFailed, None, &origin, "signup_closed").await;
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        let user = self.store.find_or_create_user(&attempt.email_lookup, &attempt.email, self.clock.now()).await?;
        if user.blocked {
            self.audit.record(EventKind::LinkFailed, Some(&user.id), &origin, "blocked").await;
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        self.after_first_factor(user, attempt.return_to, origin, attempt.require_second_factor).await
    }

    /// The attempt this browser's `__Host-attempt` names, once the cookie's secret matches the
    /// attempt's stored proof. Only a read before that check, so a forged cookie (a known
    /// attempt id with a made-up secret) spends no try and changes nothing of the attempt; it
    /// counts as an unknown link against the client IP.
    async fn bound_attempt(&self, cookie: Option<&str>, origin: &RequestOrigin) -> Result<AttemptId, SignInError> {
        let id = cookie.and_then(binding::attempt_of).ok_or(SignInError::Link(LinkProblem::Unknown))?;
        let state = self.store.peek_attempt(&id, self.clock.now()).await?;
        if state.is_some_and(|state| self.same_browser(&id, state.attempt(), cookie)) {
            return Ok(id);
        }
        self.record_failure(origin).await?;
        self.audit.record(EventKind::LinkFailed, None, origin, "unknown").await;
        Err(SignInError::Link(LinkProblem::Unknown))
    }

    pub(super) fn same_browser(&self, id: &AttemptId, attempt: &LinkAttempt, cookie: Option<&str>) -> bool {
        binding::matches(cookie, id, &attempt.browser, &self.keyring.token)
    }

    /// A pending attempt, or the problem that stops it (an unknown one counts as a failure).
    pub(super) async fn usable(
        &self,
        state: Option<Redemption>,
        origin: &RequestOrigin,
    ) -> Result<LinkAttempt, SignInError> {
        let (problem, reason, attempt) = match state {
            Some(Redemption::Valid(attempt)) => return Ok(attempt),
            Some(Redemption::Used(a)) => (LinkProblem::Used(a.email.clone()), "used", a),
            Some(Redemption::Expired(a)) => (LinkProblem::Expired(a.email.clone()), "expired", a),
            Some(Redemption::Dead(a)) => (LinkProblem::Dead(a.email.clone()), "dead", a),
            Some(Redemption::Approved(a)) => (LinkProblem::Used(a.email.clone()), "approved", a),
            None => {
                self.record_failure(origin).await?;
                self.audit.record(EventKind::LinkFailed, None, origin, "unknown").await;
                return Err(SignInError::Link(LinkProblem::Unknown));
            }
        };
        self.record_for(EventKind::LinkFailed, &attempt, origin, reason).await;
        Err(SignInError::Link(problem))
    }

    /// A pending link whose address has since had a newer link or a sign-in is void.
    pub(super) async fn check_generation(&self, attempt: &LinkAttempt) -> Result<(), SignInError> {
        let current = self.store.link_generation(&attempt.email_lookup).await?;
        if current != attempt.generation {
            return Err(SignInError::Link(LinkProblem::Superseded(attempt.email.clone())));
        }
        Ok(())
    }

    pub(super) async fn check_failures(&self, origin: &RequestOrigin) -> Result<(), SignInError> {
        self.limiter.check(LimitedAction::FailedRedeemPerIp, &self.limiter.client(origin.ip)).await?;
        Ok(())
    }

    pub(super) async fn record_failure(&self, origin: &RequestOrigin) -> Result<(), SignInError> {
        self.limiter.record(LimitedAction::FailedRedeemPerIp, &self.limiter.client(origin.ip)).await?;
        Ok(())
    }
}

impl SignIn {
    /// True when `cookie` binds this browser to the token's attempt.
    pub fn is_same_browser(&self, token: &LinkToken, attempt: &LinkAttempt, cookie: Option<&str>) -> bool {
        self.same_browser(&token.attempt_id(&self.keyring.token), attempt, cookie)
    }

    /// The still-pending attempt behind a token, to show the code form again.
    pub async fn attempt_for_form(&self, token: &LinkToken) -> Result<Option<LinkAttempt>, SignInError> {
        self.pending(&token.attempt_id(&self.keyring.token)).await
    }

    /// The still-pending attempt this browser asked for, to show the code form again (only to
    /// the browser whose cookie carries the attempt's secret).
    pub async fn attempt_for_cookie(&self, cookie: Option<&str>) -> Result<Option<LinkAttempt>, SignInError> {
        let Some(id) = cookie.and_then(binding::attempt_of) else { return Ok(None) };
        Ok(self.pending(&id).await?.filter(|attempt| self.same_browser(&id, attempt, cookie)))
    }

    async fn pending(&self, id: &AttemptId) -> Result<Option<LinkAttempt>, SignInError> {
        Ok(match self.store.peek_attempt(id, self.clock.now()).await? {
            Some(Redemption::Valid(attempt)) => Some(attempt),
            _ => None,
        })
    }
}
