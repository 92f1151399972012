//! DKIM signing in-process (lettre's signer): every mail the [`Mailer`](super::Mailer) builds
//! carries a `DKIM-Signature` when `DKIM_*` are set.

use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;
use secrecy::ExposeSecret;

use crate::config::DkimSettings;
use crate::crypto::dkim::DkimAlgorithm;

/// The headers signed: the ones every mail of ours has when it is built. (A header listed but
/// absent would break the signature if a relay added it later, e.g. `Message-ID`.)
const SIGNED_HEADERS: [&str; 5] = ["From", "To", "Subject", "Date", "MIME-Version"];

/// Signs messages for one domain and selector.
pub struct DkimSigner {
    config: DkimConfig,
}

impl DkimSigner {
    /// The signer for `settings`: relaxed canonicalization of headers and body (which
    /// survives relays that refold headers or trim trailing spaces).
    pub fn new(settings: &DkimSettings) -> anyhow::Result<Self> {
        let algorithm = match settings.key.algorithm() {
            DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
            DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
        };
        let input = settings.key.signer_input()?;
        let key = DkimSigningKey::new(input.expose_secret(), algorithm)
            .map_err(|e| anyhow::anyhow!("DKIM_PRIVATE_KEY: the signer refused the key: {e}"))?;
        let headers = SIGNED_HEADERS.iter().map(|name| HeaderName::new_from_ascii_str(name)).collect();
        let canonicalization =
            DkimCanonicalization { header: DkimCanonicalizationType::Relaxed, body: DkimCanonicalizationType::Relaxed };
        let config =
            DkimConfig::new(settings.selector.clone(), settings.domain.clone(), key, headers, canonicalization);
        Ok(Self { config })
    }

    /// Adds the `DKIM-Signature` header.
    pub fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner").finish_non_exhaustive()
    }
}
