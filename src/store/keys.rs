//! Every store key, built in one place from `REDIS_KEY_PREFIX`.
//!
//! Redis Cluster: a key's hash slot comes from the text between its first `{` and the next
//! `}` (the hash tag), so keys that one Lua script or MULTI touches carry the same tag and
//! live on one node. The tags: `{a:<attempt>}` (an attempt), `{e:<address hash>}` (its link
//! generation), `{p:<pending id>}` (a second-factor step and its SMS code), `{u:<user id>}`
//! (everything of one user: record, sessions and their index, factors, audit stream …),
//! `{c:<code>}`, `{t:<token>}`, and `{clients}` (run-time clients and their index).
//! Keys without a tag are only ever used alone. The prefix therefore holds no braces
//! (config refuses them). `append_event` writes the global and a user's audit stream, which
//! are in different slots, as two commands.

use crate::domain::{AttemptId, SessionId, UserId};

/// Builds key names under a prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (e.g. `latchkey:`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The prefix, for scans in tests and tools.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A sign-in attempt (hash: `data`, `status`, `expires`).
    pub fn attempt(&self, id: &AttemptId) -> String {
        format!("{}{{a:{}}}:attempt", self.prefix, id.as_str())
    }

    /// Address lookup hash → user id.
    pub fn user_by_email(&self, lookup: &str) -> String {
        format!("{}user-email:{}", self.prefix, lookup)
    }

    /// An address's link generation (supersede counter).
    pub fn link_generation(&self, lookup: &str) -> String {
        format!("{}{{e:{}}}:links", self.prefix, lookup)
    }

    /// A rate-limit counter.
    pub fn rate(&self, key: &super::RateKey) -> String {
        format!("{}rate:{}:{}", self.prefix, key.action, key.subject)
    }

    /// The shared sign-in policy.
    pub fn policy(&self) -> String {
        format!("{}policy", self.prefix)
    }

    /// Written just before a critical write's `WAIT`, so that the `WAIT` covers every write
    /// the master took before it (see `RedisConnection::replication`). Holds nothing of use.
    pub fn durability_mark(&self) -> String {
        format!("{}durable", self.prefix)
    }

    /// The store's identity and "not before" (JSON). Untagged: only ever used alone.
    pub fn store_identity(&self) -> String {
        format!("{}store", self.prefix)
    }

    /// True for a key under this prefix that holds live sign-in state a restore from backup
    /// must void: sessions and their indexes, attempts (links and codes), second-factor steps
    /// and their SMS codes, enrollments waiting for a first code, OIDC codes and access
    /// tokens, "this wasn't me" links, and the apps each session would tell when it ends.
    pub fn is_live_state(&self, key: &str) -> bool {
        let Some(rest) = key.strip_prefix(&self.prefix) else { return false };
        if rest.starts_with("report:") {
            return true;
        }
        let Some((tag, name)) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) else { return false };
        match tag.split_once(':').map(|(kind, _)| kind) {
            Some("a") => name == ":attempt",
            Some("p") => name == ":pending" || name == ":sms",
            Some("c") => name == ":code",
            Some("t") => name == ":access",
            Some("w") => name == ":passkey-ceremony",
            Some("u") => {
                name == ":sessions"
                    || name == ":phone-enroll"
                    || name.starts_with(":session:")
                    || name.starts_with(":session-clients:")
                    || name.starts_with(":totp-enroll:")
                    || name == ":email-change"
                    || name == ":email-reverts"
            }
            _ => false,
        }
    }

    /// A pending second-factor step (hash: `data`, `tries`).
    pub fn pending(&self, id: &str) -> String {
        format!("{}{{p:{}}}:pending", self.prefix, id)
    }

    /// A user's second factors.
    pub fn factors(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:factors", self.prefix, user)
    }

    /// The last TOTP time step a user's code was accepted for.
    pub fn totp_step(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:totp-step", self.prefix, user)
    }

    /// A TOTP seed being enrolled, not yet confirmed.
    pub fn totp_enrollment(&self, user: &UserId, slot: &str) -> String {
        format!("{}{{u:{}}}:totp-enroll:{}", self.prefix, user, slot)
    }

    /// A user's unused recovery code hashes.
    pub fn recovery_codes(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:recovery", self.prefix, user)
    }

    /// An SMS code waiting to be typed (hash: `data`, `tries`). A sign-in's code shares the
    /// pending step's hash tag.
    pub fn challenge(&self, key: &super::ChallengeKey) -> String {
        match key {
            super::ChallengeKey::PhoneEnrollment(user) => format!("{}{{u:{}}}:phone-enroll", self.prefix, user),
            super::ChallengeKey::Login(pending) => format!("{}{{p:{}}}:sms", self.prefix, pending),
        }
    }

    /// An OIDC authorization code (hash: `data`, `status`, `access`).
    pub fn auth_code(&self, id: &str) -> String {
        format!("{}{{c:{}}}:code", self.prefix, id)
    }

    /// An opaque access token's grant.
    pub fn access_token(&self, id: &str) -> String {
        format!("{}{{t:{}}}:access", self.prefix, id)
    }

    /// The ids of clients registered at run time (a set). Shares the `{clients}` tag with
    /// every client record: one MULTI writes or removes a record and its id together.
    pub fn clients(&self) -> String {
        format!("{}{{clients}}:ids", self.prefix)
    }

    /// A client registered at run time (JSON).
    pub fn client(&self, id: &str) -> String {
        format!("{}{{clients}}:client:{}", self.prefix, id)
    }

    /// The global audit log (a stream). Untagged: never in one atomic step with another key.
    pub fn audit(&self) -> String {
        format!("{}audit", self.prefix)
    }

    /// A user's audit log (a stream).
    pub fn user_audit(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:audit", self.prefix, user)
    }

    /// A user record key no user has (`-` is never an id): read in place of a record when an
    /// address has no account, so a known and an unknown address cost the same reads.
    pub fn no_user(&self) -> String {
        format!("{}{{u:-}}:user", self.prefix)
    }

    /// An audit stream no user has, never created (written with `NOMKSTREAM`): an event about
    /// no account is sent there so it costs the same writes as one about an account.
    pub fn no_user_audit(&self) -> String {
        format!("{}{{u:-}}:audit", self.prefix)
    }

    /// The apps (client ids) a user has signed in to.
    pub fn user_apps(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:apps", self.prefix, user)
    }

    /// The language of the user's latest sign-in (a tag: `de`), for notices no request of
    /// theirs causes (an administrator's change of address).
    pub fn user_lang(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:lang", self.prefix, user)
    }

    /// Keyed hashes of the browsers a user has signed in from.
    pub fn devices(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:devices", self.prefix, user)
    }

    /// A "this wasn't me" link (keyed hash of its token) → the user.
    pub fn report(&self, id: &str) -> String {
        format!("{}report:{}", self.prefix, id)
    }

    /// A user record.
    pub fn user(&self, id: &UserId) -> String {
        format!("{}{{u:{}}}:user", self.prefix, id)
    }

    /// One allow-listed session.
    pub fn session(&self, user: &UserId, sid: &SessionId) -> String {
        format!("{}{}", self.session_prefix(user), sid)
    }

    /// What every session key of `user` starts with (for the delete-all script).
    pub fn session_prefix(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:session:", self.prefix, user)
    }

    /// The set of a user's session ids.
    pub fn sessions(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:sessions", self.prefix, user)
    }

    /// The apps (client ids) that got tokens in one session and are told by back-channel
    /// logout when it ends (a set, expiring with the session).
    pub fn session_clients(&self, user: &UserId, sid: &SessionId) -> String {
        format!("{}{}", self.session_clients_prefix(user), sid)
    }

    /// A refresh token family (hash: `data`, `client`, `current` token hash, `gen`).
    pub fn refresh_family(&self, user: &UserId, family: &str) -> String {
        format!("{}{}", self.refresh_family_prefix(user), family)
    }

    /// The last spent token hashes of a refresh token family (a list, newest first).
    pub fn refresh_spent(&self, user: &UserId, family: &str) -> String {
        format!("{}{}", self.refresh_spent_prefix(user), family)
    }

    /// What every refresh family key of `user` starts with (for the revoke-all script).
    pub fn refresh_family_prefix(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:refresh:", self.prefix, user)
    }

    /// What every spent-token list of `user`'s families starts with (for the revoke-all script).
    pub fn refresh_spent_prefix(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:refresh-spent:", self.prefix, user)
    }

    /// The set of a user's refresh family ids.
    pub fn refresh_families(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:refresh-families", self.prefix, user)
    }

    /// The outbox's ready deliveries (a stream with the workers' consumer group). The outbox's
    /// keys share the `{outbox}` tag: a delivery moves between them in one MULTI or script.
    pub fn outbox_ready(&self) -> String {
        format!("{}{{outbox}}:ready", self.prefix)
    }

    /// Deliveries waiting for their next attempt (a sorted set scored by due time, unix ms).
    pub fn outbox_scheduled(&self) -> String {
        format!("{}{{outbox}}:scheduled", self.prefix)
    }

    /// Deliveries given up on (a capped stream).
    pub fn outbox_dead(&self) -> String {
        format!("{}{{outbox}}:dead", self.prefix)
    }
    /// What every session's app set of `user` starts with (for the delete-user script).
    pub fn session_clients_prefix(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:session-clients:", self.prefix, user)
    }

    /// Every key of `user` whose name is fixed (not one per session or refresh family), for
    /// the delete-user script: the record first, then the session and refresh family indexes,
    /// then the rest.
    pub fn user_fixed_keys(&self, user: &UserId) -> Vec<String> {
        let mut keys = vec![
            self.user(user),
            self.sessions(user),
            self.refresh_families(user),
            self.factors(user),
            self.totp_step(user),
            self.recovery_codes(user),
            self.challenge(&super::ChallengeKey::PhoneEnrollment(user.clone())),
            self.devices(user),
            self.user_apps(user),
            self.user_audit(user),
            self.email_change(user),
            self.email_reverts(user),
            self.passkey_handle(user),
            self.user_lang(user),
        ];
        keys.extend(super::TOTP_ENROLL_SLOTS.iter().map(|slot| self.totp_enrollment(user, slot)));
        keys
    }

    /// A passkey ceremony between its two requests (a string, taken with GETDEL).
    pub fn passkey_ceremony(&self, id: &str) -> String {
        format!("{}{{w:{}}}:passkey-ceremony", self.prefix, id)
    }

    /// An address on the suppression list (JSON, expiring). Untagged: only ever used alone.
    pub fn suppression(&self, lookup: &str) -> String {
        format!("{}suppress:{}", self.prefix, lookup)
    }

    /// WebAuthn user handle → user id (a discoverable passkey's answer names its account by
    /// the handle). Untagged: only ever used alone.
    pub fn passkey_owner(&self, handle: &str) -> String {
        format!("{}passkey-user:{}", self.prefix, handle)
    }

    /// The user's WebAuthn handle, kept beside the account so deleting it finds the
    /// `passkey-user:` entry.
    pub fn passkey_handle(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:passkey-handle", self.prefix, user)
    }

    /// The last signature counter seen from one of a user's passkeys.
    pub fn passkey_counter(&self, user: &UserId, credential: &str) -> String {
        format!("{}{{u:{}}}:passkey-counter:{}", self.prefix, user, credential)
    }

    /// A user's pending change of address (hash: `data`, `tries`).
    pub fn email_change(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:email-change", self.prefix, user)
    }

    /// A user's "this wasn't me" links for changes of address (hash: link id → JSON).
    pub fn email_reverts(&self, user: &UserId) -> String {
        format!("{}{{u:{}}}:email-reverts", self.prefix, user)
    }
}
