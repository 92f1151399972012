//! The audit log's entries: what happened, to whom, from where.

use serde::{Deserialize, Serialize};

use super::UserId;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A sign-in link was requested (and its mail queued).
    LinkRequested,
    /// A link was requested for a blocked account (no mail).
    LinkRefused,
    /// A sign-in link was opened (confirm page shown).
    LinkOpened,
    /// A link or code could not be used (unknown, expired, used, replaced, wrong code).
    LinkFailed,
    /// The code from the mail was accepted.
    CodeAccepted,
    /// A mail was handed to the mail server (recorded for every mail but the sign-in mail,
    /// whose delivery is only counted).
    MailSent,
    /// A mail could not be delivered (after retries, or expired before it could be).
    MailFailed,
    /// A second factor was passed.
    SecondFactorPassed,
    /// A wrong second-factor code.
    SecondFactorFailed,
    /// A session was issued.
    SessionIssued,
    /// A session was ended by its user.
    SessionEnded,
    /// Every session of a user was ended (by them or an admin).
    SessionsRevoked,
    /// An administrator changed something.
    AdminAction,
    /// A second factor was added or removed, or the recovery codes replaced (the detail says
    /// which).
    FactorChanged,
    /// A sign-in stopped: the account has a kind of second factor whose data the store lacks.
    FactorMissing,
    /// Another device typed the right number: the browser that asked may finish (policy
    /// `approve`).
    SignInApproved,
    /// Another device typed a wrong number: the attempt ended on both sides.
    ApprovalRefused,
    /// The browser that asked was still waiting for an approval when the link expired.
    ApprovalTimedOut,
    /// A spent refresh token was presented again: its family was revoked and its session ended
    /// (the detail names the client).
    RefreshTokenReused,
    /// An account was deleted (by its owner or an administrator). The tombstone: it names the
    /// user id in its detail, not in `user` (the user's own log is gone with the account),
    /// and never the address.
    AccountDeleted,
    /// An account's data was exported (by its owner or an administrator).
    AccountExported,
    /// An address was put on the suppression list (a bounce, a complaint, a refusal at send
    /// time): no more mail goes to it until it lapses or an administrator clears it. The
    /// detail names the address masked, the reason and the source.
    AddressSuppressed,
    /// A change of address was asked for (a link mailed to the new address). The detail
    /// names no address.
    EmailChangeRequested,
    /// An account's address changed (by its owner's link, an administrator, or undone by
    /// "this wasn't me"; the detail says which, never the addresses).
    EmailChanged,
    /// A passkey was used (the detail says where: `sign_in` at `/login`).
    PasskeyUsed,
    /// A passkey's answer at `/login` did not sign in (the detail says why: `no_ceremony`,
    /// `unknown_credential`, `not_verified`, `no_user_verification`, `counter_went_back`,
    /// `blocked`).
    PasskeyFailed,
}

impl EventKind {
    /// The event's name, as in the log and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::LinkRequested => "link_requested",
            Self::LinkRefused => "link_refused",
            Self::LinkOpened => "link_opened",
            Self::LinkFailed => "link_failed",
            Self::CodeAccepted => "code_accepted",
            Self::MailSent => "mail_sent",
            Self::MailFailed => "mail_failed",
            Self::SecondFactorPassed => "second_factor_passed",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::SessionIssued => "session_issued",
            Self::SessionEnded => "session_ended",
            Self::SessionsRevoked => "sessions_revoked",
            Self::AdminAction => "admin_action",
            Self::FactorChanged => "factor_changed",
            Self::FactorMissing => "factor_missing",
            Self::SignInApproved => "sign_in_approved",
            Self::ApprovalRefused => "approval_refused",
            Self::ApprovalTimedOut => "approval_timed_out",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::AccountDeleted => "account_deleted",
            Self::AccountExported => "account_exported",
            Self::AddressSuppressed => "address_suppressed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::PasskeyUsed => "passkey_used",
            Self::PasskeyFailed => "passkey_failed",
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// The store's id for it (stream id); empty until stored.
    #[serde(default)]
    pub id: String,
    /// When (RFC 3339).
    pub at: String,
    /// What.
    pub kind: EventKind,
    /// Whose, when known.
    #[schema(required = true)]
    pub user: Option<UserId>,
    /// From where.
    pub ip: String,
    /// With what.
    pub browser: String,
    /// More, without secrets (a reason, the methods used, an admin's change).
    pub detail: String,
}
