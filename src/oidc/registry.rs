//! The client registry as admins edit it: register, list, change, rotate, remove. Clients from
//! `CLIENTS_FILE` are read-only here.

use serde::{Deserialize, Serialize};

use super::notify::webhook_context;
use super::service::OidcService;
use crate::crypto::signing_keys::SigningAlg;
use crate::crypto::{self, CryptoError};
use crate::domain::{Client, ClientKind, new_client_secret};
use crate::store::StoreError;

/// A client as an admin creates or edits it (secrets are made here, never sent in).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientDraft {
    /// `client_id` (ignored on update).
    #[serde(default)]
    pub client_id: String,
    /// Shown to people.
    pub name: Option<String>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `public`, `native` or `confidential` (ignored on update).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Scopes (default `openid email`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Sign-ins for this app need a second factor.
    #[serde(default)]
    pub require_second_factor: bool,
    /// Sign-ins for this app need a passkey at the second step (with `require_second_factor`).
    #[serde(default)]
    pub require_phishing_resistant: bool,
    /// Sessions older than this sign in again for this app.
    pub max_session_age_secs: Option<u64>,
    /// Where to send signed events (a secret is made for it and shown once).
    pub webhook_url: Option<String>,
    /// What its id_tokens are signed with: `EdDSA` (the default) or `RS256`.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    /// How long its refresh tokens live (default 30 days).
    pub refresh_token_ttl_secs: Option<u64>,
    /// Where Back-Channel Logout tokens are posted.
    pub backchannel_logout_uri: Option<String>,
    /// Its logo (https).
    pub logo_uri: Option<String>,
    /// Its home page.
    pub client_uri: Option<String>,
    /// Its privacy policy.
    pub policy_uri: Option<String>,
    /// Browser origins allowed to call the token, userinfo and discovery endpoints.
    #[serde(default)]
    pub allowed_cors_origins: Vec<String>,
}

/// A client as the admin API shows it: no secret, and where it comes from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    /// `client_id`.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// `public`, `native` or `confidential`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Needs a second factor.
    pub require_second_factor: bool,
    /// Needs a passkey at the second step.
    pub require_phishing_resistant: bool,
    /// Maximum session age.
    #[schema(required = true)]
    pub max_session_age_secs: Option<u64>,
    /// Where signed events go.
    #[schema(required = true)]
    pub webhook_url: Option<String>,
    /// What its id_tokens are signed with.
    pub id_token_signed_response_alg: SigningAlg,
    /// Refresh token lifetime, when it differs from the default.
    #[schema(required = true)]
    pub refresh_token_ttl_secs: Option<u64>,
    /// Where Back-Channel Logout tokens are posted.
    #[schema(required = true)]
    pub backchannel_logout_uri: Option<String>,
    /// Its logo.
    #[schema(required = true)]
    pub logo_uri: Option<String>,
    /// Its home page.
    #[schema(required = true)]
    pub client_uri: Option<String>,
    /// Its privacy policy.
    #[schema(required = true)]
    pub policy_uri: Option<String>,
    /// Browser origins allowed by CORS.
    pub allowed_cors_origins: Vec<String>,
    /// `file` (`CLIENTS_FILE`, read-only here) or `store`.
    #[schema(value_type = String)]
    pub source: &'static str,
}

/// Why a client change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The draft breaks these rules.
    #[error("invalid client")]
    Invalid(Vec<String>),
    /// The id is taken.
    #[error("client_id already registered")]
    Exists,
    /// No such client.
    #[error("no such client")]
    NotFound,
    /// It comes from `CLIENTS_FILE`: change the file.
    #[error("this client comes from CLIENTS_FILE; change it there")]
    FromFile,
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl OidcService {
    /// Every client: the file's, then the store's.
    pub async fn list_clients(&self) -> Result<Vec<ClientView>, StoreError> {
        let mut from_file: Vec<&Client> = self.clients.all().collect();
        from_file.sort_by(|a, b| a.id.cmp(&b.id));
        let mut views: Vec<ClientView> = from_file.into_iter().map(|c| view(c, "file")).collect();
        views.extend(self.store.list_clients().await?.iter().map(|c| view(c, "store")));
        Ok(views)
    }

    /// Registers a client; a confidential one gets a secret, and a webhook a signing secret,
    /// each returned once: `(client, client_secret, webhook_secret)`.
    pub async fn create_client(&self, draft: ClientDraft) -> Result<CreatedClient, ClientError> {
        if self.client(&draft.client_id).await?.is_some() {
            return Err(ClientError::Exists);
        }
        let (kind, secret) = match draft.kind.as_deref() {
            Some("public") => (ClientKind::Public, None),
            Some("native") => (ClientKind::Native, None),
            Some("confidential") => {
                let (secret, hash) = new_client_secret()?;
                (ClientKind::Confidential { secret_sha256: hash }, Some(secret))
            }
            _ => {
                return Err(ClientError::Invalid(vec!["type must be `public`, `native` or `confidential`".to_owned()]));
            }
        };
        let mut client = self.build_client(draft.client_id.clone(), draft, kind)?;
        let webhook_secret = self.seal_new_webhook_secret(&mut client, None)?;
        self.store.put_client(&client).await?;
        self.cors.forget();
        Ok(CreatedClient { client: view(&client, "store"), client_secret: secret, webhook_secret })
    }

    /// A new webhook signing secret for `client` if it now has a webhook and had none before
    /// (`previous` is its sealed secret, kept otherwise); returns the plaintext to show once.
    fn seal_new_webhook_secret(
        &self,
        client: &mut Client,
        previous: Option<String>,
    ) -> Result<Option<String>, ClientError> {
        if client.webhook_url.is_none() {
            client.webhook_secret_sealed = None;
            return Ok(None);
        }
        if previous.is_some() {
            client.webhook_secret_sealed = previous;
            return Ok(None);
        }
        let secret = crypto::random_token::<32>()?;
        client.webhook_secret_sealed = Some(self.keys.sealer.seal(&webhook_context(&client.id), secret.as_bytes())?);
        Ok(Some(secret))
    }

    /// Replaces a stored client's settings (not its id, type or secret). A newly added webhook
    /// gets a signing secret, returned once.
    pub async fn update_client(
        &self,
        id: &str,
        draft: ClientDraft,
    ) -> Result<(ClientView, Option<String>), ClientError> {
        let existing = self.stored(id).await?;
        let mut client = self.build_client(existing.id.clone(), draft, existing.kind)?;
        let webhook_secret = self.seal_new_webhook_secret(&mut client, existing.webhook_secret_sealed)?;
        self.store.put_client(&client).await?;
        self.cors.forget();
        Ok((view(&client, "store"), webhook_secret))
    }

    /// A new secret for a stored confidential client, returned once; the old one stops working.
    pub async fn rotate_secret(&self, id: &str) -> Result<String, ClientError> {
        let mut client = self.stored(id).await?;
        if client.is_public() {
            return Err(ClientError::Invalid(vec!["a public client has no secret".to_owned()]));
        }
        let (secret, hash) = new_client_secret()?;
        client.kind = ClientKind::Confidential { secret_sha256: hash };
        self.store.put_client(&client).await?;
        Ok(secret)
    }

    /// Removes a stored client.
    pub async fn delete_client(&self, id: &str) -> Result<(), ClientError> {
        self.stored(id).await?;
        self.store.delete_client(id).await?;
        self.cors.forget();
        Ok(())
    }

    async fn stored(&self, id: &str) -> Result<Client, ClientError> {
        if self.clients.find(id).is_some() {
            return Err(ClientError::FromFile);
        }
        self.client(id).await?.ok_or(ClientError::NotFound)
    }

    fn build_client(&self, id: String, draft: ClientDraft, kind: ClientKind) -> Result<Client, ClientError> {
        let scopes = if draft.scopes.is_empty() { vec!["openid".into(), "email".into()] } else { draft.scopes };
        let client = Client {
            name: draft.name.unwrap_or_else(|| id.clone()),
            id,
            redirect_uris: draft.redirect_uris,
            post_logout_redirect_uris: draft.post_logout_redirect_uris,
            kind,
            scopes,
            require_second_factor: draft.require_second_factor,
            require_phishing_resistant: draft.require_phishing_resistant,
            max_session_age_secs: draft.max_session_age_secs,
            webhook_url: draft.webhook_url,
            id_token_signed_response_alg: draft.id_token_signed_response_alg,
            refresh_token_ttl_secs: draft.refresh_token_ttl_secs,
            backchannel_logout_uri: draft.backchannel_logout_uri,
            logo_uri: draft.logo_uri,
            client_uri: draft.client_uri,
            policy_uri: draft.policy_uri,
            allowed_cors_origins: draft.allowed_cors_origins,
            webhook_secret: None,
            webhook_secret_sealed: None,
        };
        let mut problems = client.problems(self.production);
        if !client.scopes.iter().any(|s| s == "openid") {
            problems.push("scopes must include openid".to_owned());
        }
        if self.signer.keys().signing_for(client.id_token_signed_response_alg).is_none() {
            problems.push("id_token_signed_response_alg RS256 needs an RSA key in JWT_KEYS".to_owned());
        }
        if problems.is_empty() { Ok(client) } else { Err(ClientError::Invalid(problems)) }
    }
}

/// A new client and the secrets to show once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedClient {
    /// The client.
    pub client: ClientView,
    /// Its secret (confidential clients).
    #[schema(required = true)]
    pub client_secret: Option<String>,
    /// Its webhook signing secret (when it has a webhook).
    #[schema(required = true)]
    pub webhook_secret: Option<String>,
}

fn view(client: &Client, source: &'static str) -> ClientView {
    ClientView {
        client_id: client.id.clone(),
        name: client.name.clone(),
        kind: client.kind_name(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        scopes: client.scopes.clone(),
        require_second_factor: client.require_second_factor,
        require_phishing_resistant: client.require_phishing_resistant,
        max_session_age_secs: client.max_session_age_secs,
        webhook_url: client.webhook_url.clone(),
        id_token_signed_response_alg: client.id_token_signed_response_alg,
        refresh_token_ttl_secs: client.refresh_token_ttl_secs,
        backchannel_logout_uri: client.backchannel_logout_uri.clone(),
        logo_uri: client.logo_uri.clone(),
        client_uri: client.client_uri.clone(),
        policy_uri: client.policy_uri.clone(),
        allowed_cors_origins: client.allowed_cors_origins.clone(),
        source,
    }
}
