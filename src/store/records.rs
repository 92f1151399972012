//! The values the store holds, as serde structs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Email, LocalPath, MatchNumber, RequestOrigin, SessionId, UserId};

/// A requested sign-in, stored under the keyed hash of its link token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkAttempt {
    /// Who is signing in.
    pub email: Email,
    /// Where to go afterwards.
    pub return_to: LocalPath,
    /// Where the request came from (shown on the confirm page and in the mail).
    pub requested_from: RequestOrigin,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// HMAC of the browser secret in the requesting browser's `__Host-attempt` cookie.
    pub browser: String,
    /// HMAC of the short code in the mail.
    pub code: String,
    /// Keyed hash of the address (names its link generation).
    pub email_lookup: String,
    /// The address's link generation when issued; a later generation supersedes this link.
    pub generation: u64,
    /// The app this sign-in is for requires a second factor.
    #[serde(default)]
    pub require_second_factor: bool,
    /// Policy `approve`: the number (10–99) the browser that asked shows, which another device
    /// types to approve it. Kept in clear: the waiting page shows it again on every refresh,
    /// and it is worth nothing without the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<MatchNumber>,
}

/// The state of an attempt as seen by a peek or a redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// Pending and in time. From `redeem_attempt`: this call has just consumed it.
    Valid(LinkAttempt),
    /// Already consumed.
    Used(LinkAttempt),
    /// Past `expires_at`.
    Expired(LinkAttempt),
    /// Ended by too many wrong codes, or a wrong number.
    Dead(LinkAttempt),
    /// Approved from another device (policy `approve`), in time: the browser that asked may
    /// finish it.
    Approved(LinkAttempt),
}

impl Redemption {
    /// The attempt, whatever its state.
    pub fn attempt(&self) -> &LinkAttempt {
        match self {
            Self::Valid(a) | Self::Used(a) | Self::Expired(a) | Self::Dead(a) | Self::Approved(a) => a,
        }
    }
}

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id; the JWT's `sub`.
    pub id: UserId,
    /// Their address.
    pub email: Email,
    /// First sign-in.
    pub created_at: DateTime<Utc>,
    /// Blocked by an admin: gets the usual pages but no mail and no session.
    #[serde(default)]
    pub blocked: bool,
    /// The kinds of second factor the account has, kept beside (not in) the factors' data:
    /// a sign-in that finds one of these without its data stops instead of asking less.
    #[serde(default, skip_serializing_if = "FactorKinds::is_none")]
    pub factor_kinds: FactorKinds,
}

/// Which kinds of second factor an account has set up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorKinds {
    /// An authenticator app.
    #[serde(default)]
    pub totp: bool,
    /// A verified phone.
    #[serde(default)]
    pub phone: bool,
    /// At least one passkey.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passkey: bool,
}

impl FactorKinds {
    /// The kinds `factors` holds.
    pub fn of(factors: &SecondFactors) -> Self {
        Self { totp: factors.totp.is_some(), phone: factors.phone.is_some(), passkey: !factors.passkeys.is_empty() }
    }

    /// True when the account has no second factor.
    pub fn is_none(&self) -> bool {
        !self.totp && !self.phone && !self.passkey
    }

    /// The kinds recorded here whose data `factors` lacks (`totp`, `phone`, `passkey`).
    pub fn missing_from(&self, factors: &SecondFactors) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.totp && factors.totp.is_none() {
            missing.push("totp");
        }
        if self.phone && factors.phone.is_none() {
            missing.push("phone");
        }
        if self.passkey && factors.passkeys.is_empty() {
            missing.push("passkey");
        }
        missing
    }
}

/// An allow-listed session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Whose session.
    pub user_id: UserId,
    /// The JWT's `sid`.
    pub sid: SessionId,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// The device it began on.
    pub origin: RequestOrigin,
    /// Authentication methods (RFC 8176 `amr`).
    pub amr: Vec<String>,
    /// When it was last used (updated at most once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// When a second factor was last used *in this session* (at sign-in, or to confirm it is
    /// still the owner before changing a factor); `None` if never.
    #[serde(default)]
    pub factor_at: Option<DateTime<Utc>>,
}

/// A user's second factors, secrets sealed (AEAD) under a key derived from SECRET_KEY.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactors {
    /// Sealed TOTP seed, once confirmed.
    pub totp: Option<String>,
    /// Sealed verified phone number (E.164).
    pub phone: Option<String>,
    /// The phone number masked for display (`+44 ••••••••58`).
    pub phone_masked: Option<String>,
    /// Passkeys and security keys, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<StoredPasskey>,
    /// How many times the store has written these factors (0 before the first write): a
    /// write based on an older read is refused ([`FactorStore::put_factors`]).
    ///
    /// [`FactorStore::put_factors`]: crate::store::FactorStore::put_factors
    #[serde(default)]
    pub revision: u64,
}

impl SecondFactors {
    /// True when any factor is set up.
    pub fn any(&self) -> bool {
        self.totp.is_some() || self.phone.is_some() || !self.passkeys.is_empty()
    }
}

/// One passkey of a user: what the account page shows, and the credential itself (public
/// key, counter, backup flags, as webauthn-rs keeps it), sealed to the user and the credential
/// id so that a record copied to another account or altered does not open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// The credential id, base64url.
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// When it was added.
    pub added_at: DateTime<Utc>,
    /// When it was last used to sign in.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// True when the authenticator may sync it to other devices (backup eligible).
    pub synced: bool,
    /// True when the authenticator said, when it was last used, that the key is backed up
    /// (synced to the authenticator's cloud).
    #[serde(default)]
    pub backed_up: bool,
    /// The sealed credential.
    pub sealed: String,
}

/// A sign-in that passed the link and waits for its second factor (or enrollment), bound to
/// the browser by the `__Host-pending` cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// Who is signing in.
    pub user: User,
    /// Where to go afterwards.
    pub return_to: LocalPath,
    /// The device signing in.
    pub origin: RequestOrigin,
    /// When the step started.
    pub created_at: DateTime<Utc>,
    /// True when the user must set up a second factor before any session.
    pub must_enroll: bool,
    /// True when only a passkey finishes this step: a step-up for an app that requires a
    /// phishing-resistant factor (`require_phishing_resistant`).
    #[serde(default)]
    pub passkey_required: bool,
}

/// An SMS code waiting to be typed: for verifying a new phone, or for a sign-in step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsChallenge {
    /// Keyed hash of the code, bound to what it is for.
    pub code: String,
    /// The phone being verified, sealed (enrollment only).
    pub phone: Option<String>,
    /// When it was sent (a resend waits 30 s).
    pub sent_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Which SMS code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChallengeKey {
    /// Verifying a new phone number for this user.
    PhoneEnrollment(UserId),
    /// The SMS code of this pending sign-in step.
    Login(String),
}

/// An OIDC authorization code's grant: what the token endpoint may issue, and to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    /// The client it was issued to.
    pub client_id: String,
    /// The exact redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The signed-in user.
    pub user_id: UserId,
    /// Their address.
    pub email: Email,
    /// The session it came from.
    pub sid: SessionId,
    /// The client's `nonce`, echoed in the id_token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the user authenticated (unix seconds).
    pub auth_time: i64,
    /// How (RFC 8176).
    pub amr: Vec<String>,
    /// When the code stops working (issued + 60 s).
    pub expires_at: DateTime<Utc>,
}

/// What exchanging a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeExchange {
    /// First use: this caller may issue tokens (recorded under the access token id it gave).
    Fresh(Box<AuthCode>),
    /// Used before: the access token it issued (to revoke).
    Reused(Option<String>),
    /// Presented by another client: left untouched, so it cannot be burned by a stranger.
    WrongClient,
}

/// An opaque access token's grant (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: UserId,
    /// Their address.
    pub email: Email,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The session it came from: revoking that session revokes the token (unless it came from
    /// a refresh token).
    pub sid: SessionId,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The refresh token family it was issued from (`grant_type=refresh_token`): it lives
    /// while that family does, not its session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_family: Option<String>,
}

/// A "this wasn't me" link's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The account.
    pub user: UserId,
    /// Its address's keyed hash (to void outstanding links).
    pub email_lookup: String,
    /// The browser the notice was about (forgotten on report, so it is news again).
    #[serde(default)]
    pub device: Option<String>,
}
