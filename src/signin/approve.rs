//! Policy `approve`: another device approves the browser that asked by typing the number that
//! browser shows (number matching), and the browser that asked finishes by itself.

use crate::crypto;
use crate::dns::MailDomainVerdict;
use crate::domain::{AttemptId, CrossDevice, Email, EventKind, LinkToken, MatchNumber, RequestOrigin, Webmail};
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
    /// Still pending, but its mail could not be delivered: the mail server refused the
    /// address, or a provider reported a bounce or complaint for it, since the link was asked
    /// for (the address went on the suppression list).
    Undeliverable(Box<LinkAttempt>),
}

/// Where a sign-in stands for the browser that asked, as its waiting page's script (or a
/// browser app) polls it: one store read, nothing changed. Only `Waiting` keeps it waiting;
/// any other outcome is for `GET /login/status` to act on (finish the sign-in, or say why it
/// ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not approved yet.
    Waiting,
    /// Approved from another device: `GET /login/status` finishes the sign-in.
    Approved,
    /// Over: a wrong number, too many wrong codes, expired or already used.
    Ended,
    /// The address went on the suppression list after the link was asked for (its mail was
    /// refused or bounced): `GET /login/status` says so.
    Undeliverable,
}

impl Progress {
    /// The outcome's name in the JSON answer.
    pub fn name(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Approved => "approved",
            Self::Ended => "ended",
            Self::Undeliverable => "undeliverable",
        }
    }
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
        let (id, state) = self.asking_browsers(cookie, &origin).await?;
        let now = self.clock.now();
        match state {
            Redemption::Valid(attempt) if self.undeliverable(&attempt).await? => {
                Ok(Waiting::Undeliverable(Box::new(attempt)))
            }
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

    /// Where the sign-in of the browser whose `__Host-attempt` is `cookie` stands, for its
    /// waiting page's script: one store read, and nothing changes (not even a timeout is
    /// recorded: the script goes on to `GET /login/status`, which does that). Any other
    /// browser learns nothing: the answer is the same as for no attempt at all.
    pub async fn progress(&self, cookie: Option<&str>, origin: &RequestOrigin) -> Result<Progress, SignInError> {
        let (_, state) = self.asking_browsers(cookie, origin).await?;
        Ok(match state {
            Redemption::Valid(attempt) if self.undeliverable(&attempt).await? => Progress::Undeliverable,
            Redemption::Valid(_) => Progress::Waiting,
            Redemption::Approved(_) => Progress::Approved,
            Redemption::Used(_) | Redemption::Expired(_) | Redemption::Dead(_) => Progress::Ended,
        })
    }

    /// The attempt `cookie` names, once its secret matches the attempt's proof (one read).
    /// A forged cookie counts as an unknown link against the client network.
    async fn asking_browsers(
        &self,
        cookie: Option<&str>,
        origin: &RequestOrigin,
    ) -> Result<(AttemptId, Redemption), SignInError> {
        let id = cookie.and_then(binding::attempt_of).ok_or(SignInError::Link(LinkProblem::Unknown))?;
        let Some(state) = self.store.peek_attempt(&id, self.clock.now()).await? else {
            return Err(SignInError::Link(LinkProblem::Unknown));
        };
        if !self.same_browser(&id, state.attempt(), cookie) {
            self.check_failures(origin).await?;
            self.record_failure(origin).await?;
            self.audit.record(EventKind::LinkFailed, None, origin, "unknown").await;
            return Err(SignInError::Link(LinkProblem::Unknown));
        }
        Ok((id, state))
    }
}

impl SignIn {
    /// Whether the attempt's address went on the suppression list since the attempt was made
    /// (its mail was refused or bounced). An address suppressed before gets no mail either,
    /// but the page does not say so: that would tell anyone who types an address whether it
    /// is suppressed.
    async fn undeliverable(&self, attempt: &LinkAttempt) -> Result<bool, SignInError> {
        let lookup = crate::deliverability::suppression_lookup(&attempt.email, &self.keyring);
        let entry = self.store.get_suppression(&lookup).await?;
        Ok(entry.is_some_and(|entry| entry.at >= attempt.created_at))
    }

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
