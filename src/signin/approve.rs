//! Policy `approve`: another device approves the browser that asked by typing the number that
//! browser shows (number matching), and the browser that asked finishes by itself.

use crate::crypto;
use crate::dns::MailDomainVerdict;
use crate::domain::{CrossDevice, Email, EventKind, LinkToken, MatchNumber, RequestOrigin, Webmail};
use crate::i18n::Lang;
use crate::store::{LinkAttempt, Redemption};

use super::binding;
use super::service::{LinkProblem, SignIn, SignInError, SignInOutcome};

/// What the browser that asked finds when it looks again (`GET /login/status`).
pub enum Waiting {
    /// Not approved yet: the attempt, to show its number again.
    Pending(Box<LinkAttempt>),
    /// Approved from another device and finished here, now.
    Finished(SignInOutcome),
}

impl SignIn {
    /// Approves the browser that asked for the link `token` names, when `typed` is the number it
    /// shows. The one guess is counted before it is checked: of concurrent guesses only the
    /// first counted is checked, and a wrong one ends the attempt for both devices. This
    /// device gets no session.
    pub async fn approve(
        &self,
        token: &LinkToken,
        typed: &str,
        origin: RequestOrigin,
    ) -> Result<LinkAttempt, SignInError> {
        self.check_failures(&origin).await?;
        if self.policy.current().await?.cross_device != CrossDevice::Approve {
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        let id = token.attempt_id(&self.keyring.token);
        let number = MatchNumber::parse(typed).ok_or(SignInError::MalformedNumber)?;
        let now = self.clock.now();
        let state = self.store.take_number_try(&id, now).await?;
        let guesses = state.as_ref().map_or(0, |(_, guesses)| *guesses);
        let attempt = self.usable(state.map(|(state, _)| state), &origin).await?;
        let Some(expected) = attempt.number else {
            return Err(SignInError::Link(LinkProblem::Unknown));
        };
        if guesses > 1 {
            // Another guess was counted first; it decides.
            return Err(SignInError::Link(LinkProblem::Used(attempt.email)));
        }
        if !crypto::constant_time_eq(&[number.value()], &[expected.value()]) {
            self.record_failure(&origin).await?;
            self.record_for(EventKind::ApprovalRefused, &attempt, &origin, "wrong_number").await;
            self.store.kill_attempt(&id).await?;
            return Err(SignInError::WrongNumber(attempt.email));
        }
        self.check_generation(&attempt).await?;
        if !self.store.approve_attempt(&id, now).await? {
            return Err(SignInError::Link(LinkProblem::Used(attempt.email)));
        }
        self.record_for(EventKind::SignInApproved, &attempt, &origin, "").await;
        Ok(attempt)
    }

    /// The browser that asked, looking again: still waiting (one store read), or — once
    /// another device approved — signed in here (or on to the second step). Only the browser
    /// whose `__Host-attempt` carries the attempt's secret gets anything.
    pub async fn waiting(&self, cookie: Option<&str>, origin: RequestOrigin) -> Result<Waiting, SignInError> {
        let id = cookie.and_then(binding::attempt_of).ok_or(SignInError::Link(LinkProblem::Unknown))?;
        let now = self.clock.now();
        let Some(state) = self.store.peek_attempt(&id, now).await? else {
            return Err(SignInError::Link(LinkProblem::Unknown));
        };
        if !self.same_browser(&id, state.attempt(), cookie) {
            self.check_failures(&origin).await?;
            self.record_failure(&origin).await?;
            self.audit.record(EventKind::LinkFailed, None, &origin, "unknown").await;
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        match state {
            Redemption::Valid(attempt) => Ok(Waiting::Pending(Box::new(attempt))),
            Redemption::Approved(attempt) => {
                if !self.store.finish_approved(&id, now).await? {
                    // Another tab of this browser finished it a moment ago.
                    return Err(SignInError::Link(LinkProblem::Used(attempt.email)));
                }
                Ok(Waiting::Finished(self.finish(attempt, origin).await?))
            }
            Redemption::Dead(attempt) if attempt.number.is_some() => {
                // A wrong number on the other device (or too many wrong codes): stopped here too.
                self.record_for(EventKind::LinkFailed, &attempt, &origin, "dead").await;
                Err(SignInError::WrongNumber(attempt.email))
            }
            other => {
                if let Redemption::Expired(attempt) = &other
                    && attempt.number.is_some()
                {
                    self.record_for(EventKind::ApprovalTimedOut, attempt, &origin, "").await;
                }
                Err(self.usable(Some(other), &origin).await.err().unwrap_or(SignInError::Link(LinkProblem::Unknown)))
            }
        }
    }
}

impl SignIn {
    /// The "open your mailbox" button for `email`'s domain, searching for the sign-in mail as
    /// it is written in `lang`; `None` for a domain not in the table.
    pub fn webmail(&self, email: &Email, lang: Lang) -> Option<Webmail> {
        let subject = lang.messages().mail_subject;
        Webmail::for_address(email, &self.mail_sender, subject).or_else(|| {
            // A custom domain: its provider, when the domain check already knows its MX (no
            // lookup here; the check at the link request filled the cache, or it will next time).
            let domains = self.mail_domains.as_ref()?;
            let domain = email.as_str().rsplit_once('@')?.1;
            match domains.cached(domain, std::time::Instant::now())? {
                MailDomainVerdict::Deliverable { exchanges } => {
                    Webmail::for_exchanges(&exchanges, &self.mail_sender, subject)
                }
                _ => None,
            }
        })
    }
}
