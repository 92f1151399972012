//! Authorization requests: checking them, and issuing a code for a live session.

use serde::Deserialize;
use url::Url;

use super::pkce;
use super::service::{ACCESS_TTL, AuthorizeFailure, CODE_TTL, OidcService};
use crate::crypto;
use crate::domain::Client;
use crate::session::{LEEWAY_SECS, SessionClaims};
use crate::store::{AuthCode, StoreError};

/// The query of `GET /oauth2/authorize`.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// A registered client.
    pub client_id: Option<String>,
    /// Exactly one of the client's redirect URIs.
    pub redirect_uri: Option<String>,
    /// Must include `openid`.
    pub scope: Option<String>,
    /// Echoed back unchanged.
    pub state: Option<String>,
    /// Echoed in the id_token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge (required for public clients).
    pub code_challenge: Option<String>,
    /// Must be `S256` when a challenge is given.
    pub code_challenge_method: Option<String>,
    /// Space-separated: `none` (fail instead of showing the sign-in), `login` (sign in again
    /// whatever the session), `consent` and `select_account` (accepted: there is nothing to
    /// consent to or choose). Other values are ignored.
    pub prompt: Option<String>,
    /// Seconds: a session signed in longer ago than this signs in again (`0` as `login`).
    pub max_age: Option<String>,
    /// Must be `query` when given: the only way codes and errors are returned.
    pub response_mode: Option<String>,
    /// Unix seconds: a session must have signed in since (set by latchkey on the way back
    /// from a sign-in that `prompt=login` or `max_age` asked for).
    pub login_after: Option<String>,
    /// A request object (OIDC Core §6): not supported, refused.
    pub request: Option<String>,
    /// A request object by reference (OIDC Core §6): not supported, refused.
    pub request_uri: Option<String>,
}

/// Why an authorization request stops.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Before the redirect URI is trusted: an error page, never a redirect.
    Page(crate::i18n::Text),
    /// After: back to the client with `error=` (RFC 6749 §4.1.2.1).
    Redirect(Url),
    /// The store did not answer.
    Store(StoreError),
}

/// A checked authorization request.
#[derive(Debug)]
pub struct Authorization {
    /// The client asking.
    pub client: Client,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    /// `prompt=none`.
    pub prompt_none: bool,
    /// `prompt=login` (or `max_age=0`): sign in again whatever the session.
    prompt_login: bool,
    /// `max_age`, in seconds.
    max_age: Option<i64>,
    /// `login_after`, in Unix seconds.
    login_after: Option<i64>,
}

impl Authorization {
    /// The redirect for an error after the redirect URI was checked.
    pub fn error(&self, error: &str, description: &str) -> Url {
        redirect_with(
            &self.redirect_uri,
            &[("error", error), ("error_description", description)],
            self.state.as_deref(),
        )
    }
}

fn redirect_with(base: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Url {
    // The base was checked against the registry (an absolute URI), so it parses.
    let mut url = Url::parse(base).unwrap_or_else(|_| Url::parse("about:blank").unwrap_or_else(|_| unreachable!()));
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    url
}

impl OidcService {
    /// Checks an authorization request. Client and redirect URI first (errors are pages); then
    /// everything else (errors go back to the client).
    pub async fn authorize(&self, p: &AuthorizeParams) -> Result<Authorization, AuthorizeError> {
        let client_id = p.client_id.as_deref().ok_or(AuthorizeError::Page(|t| t.oidc_no_client))?;
        let client = self.client(client_id).await.map_err(AuthorizeError::Store)?;
        let client = client.ok_or(AuthorizeError::Page(|t| t.oidc_unknown_client))?;
        let redirect_uri = p.redirect_uri.as_deref().ok_or(AuthorizeError::Page(|t| t.oidc_no_redirect))?;
        if !client.allows_redirect(redirect_uri) {
            return Err(AuthorizeError::Page(|t| t.oidc_unregistered_redirect));
        }
        let auth = Authorization {
            client,
            redirect_uri: redirect_uri.to_owned(),
            scope: String::new(),
            state: p.state.clone(),
            nonce: p.nonce.clone(),
            code_challenge: p.code_challenge.clone(),
            prompt_none: false,
            prompt_login: false,
            max_age: None,
            login_after: None,
        };
        let fail = |error, description| Err(AuthorizeError::Redirect(auth.error(error, description)));
        if p.request.is_some() {
            return fail("request_not_supported", "request objects are not supported");
        }
        if p.request_uri.is_some() {
            return fail("request_uri_not_supported", "request_uri is not supported");
        }
        if p.response_type.as_deref() != Some("code") {
            return fail("unsupported_response_type", "only response_type=code is supported");
        }
        let scopes: Vec<&str> = p.scope.as_deref().unwrap_or_default().split_whitespace().collect();
        if !scopes.contains(&"openid") {
            return fail("invalid_scope", "scope must include openid");
        }
        let client = &auth.client;
        // Scopes we do not offer, or this client may not have, are left out (OIDC Core
        // §3.1.2.1: unknown values SHOULD be ignored); the token response names what was granted.
        let granted = client.granted_scope(scopes.iter().copied());
        match (p.code_challenge.as_deref(), p.code_challenge_method.as_deref()) {
            (None, _) if client.is_public() => return fail("invalid_request", "PKCE (S256) is required"),
            (None, _) => {}
            (Some(challenge), Some("S256")) if pkce::valid_challenge(challenge) => {}
            (Some(_), Some("S256")) => return fail("invalid_request", "malformed code_challenge"),
            (Some(_), _) => return fail("invalid_request", "code_challenge_method must be S256"),
        }
        if p.response_mode.as_deref().is_some_and(|mode| mode != "query") {
            return fail("invalid_request", "response_mode must be query");
        }
        let prompts: Vec<&str> = p.prompt.as_deref().unwrap_or_default().split_whitespace().collect();
        let prompt_none = prompts.contains(&"none");
        if prompt_none && prompts.len() > 1 {
            return fail("invalid_request", "prompt=none cannot be combined with other values");
        }
        let seconds = |value: &Option<String>| match value.as_deref() {
            None => Ok(None),
            Some(v) => v.parse::<u32>().map(|n| Some(i64::from(n))),
        };
        let Ok(max_age) = seconds(&p.max_age) else { return fail("invalid_request", "max_age must be whole seconds") };
        let Ok(login_after) = p.login_after.as_deref().map(str::parse::<i64>).transpose() else {
            return fail("invalid_request", "malformed login_after");
        };
        if p.nonce.as_ref().is_some_and(|n| n.len() > 512) || p.state.as_ref().is_some_and(|s| s.len() > 1024) {
            return fail("invalid_request", "state or nonce too long");
        }
        Ok(Authorization {
            scope: granted,
            prompt_none,
            // OIDC Core §3.1.2.1: `max_age=0` is equivalent to `prompt=login`.
            prompt_login: prompts.contains(&"login") || max_age == Some(0),
            max_age,
            login_after,
            ..auth
        })
    }

    /// True when `session` is good enough for this request: not asked to sign in again
    /// (`prompt=login`), recent enough for `max_age`, `login_after` and the client's
    /// `max_session_age`, with a second factor if the client requires one, and with a passkey
    /// if it requires a phishing-resistant one.
    pub fn session_suits(&self, auth: &Authorization, session: &SessionClaims) -> bool {
        self.suits_but_passkey(auth, session) && (!auth.client.require_phishing_resistant || by_passkey(session))
    }

    /// True when `session` would suit this request but for the passkey the client requires
    /// (`require_phishing_resistant`): a step-up with a passkey is what it lacks.
    pub fn wants_passkey_step_up(&self, auth: &Authorization, session: &SessionClaims) -> bool {
        auth.client.require_phishing_resistant && !by_passkey(session) && self.suits_but_passkey(auth, session)
    }

    fn suits_but_passkey(&self, auth: &Authorization, session: &SessionClaims) -> bool {
        let age = self.clock.now().timestamp() - session.auth_time;
        let fresh = auth.client.max_session_age_secs.is_none_or(|max| age <= max as i64)
            && auth.max_age.is_none_or(|max| age <= max)
            // Leeway for instances whose clocks differ a little.
            && auth.login_after.is_none_or(|after| session.auth_time >= after - LEEWAY_SECS);
        let strong = !auth.client.require_second_factor || session.amr.iter().any(|m| m == "mfa");
        !auth.prompt_login && fresh && strong
    }

    /// Where the sign-in returns to: this request again (`query` is its query string). When
    /// the request asked for a new sign-in (`prompt=login`, `max_age`), the way back asks
    /// instead for a session signed in from now on (`login_after`), which the sign-in makes.
    pub fn sign_in_return(&self, auth: &Authorization, query: &str) -> String {
        let forced = auth.prompt_login || auth.max_age.is_some() || auth.login_after.is_some();
        if !forced {
            return format!("/oauth2/authorize?{query}");
        }
        let mut back = url::form_urlencoded::Serializer::new(String::from("/oauth2/authorize?"));
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "max_age" | "login_after" => {}
                "prompt" => {
                    let kept: Vec<&str> = value.split_whitespace().filter(|p| *p != "login").collect();
                    if !kept.is_empty() {
                        back.append_pair("prompt", &kept.join(" "));
                    }
                }
                _ => {
                    back.append_pair(&key, &value);
                }
            }
        }
        back.append_pair("login_after", &self.clock.now().timestamp().to_string());
        back.finish()
    }

    /// Issues a code for a checked request and a live session; returns the redirect.
    pub async fn issue_code(&self, auth: &Authorization, session: &SessionClaims) -> Result<Url, AuthorizeFailure> {
        let code = crypto::random_token::<32>()?;
        let expires_at =
            self.clock.now() + chrono::Duration::from_std(CODE_TTL).unwrap_or(chrono::Duration::seconds(60));
        let grant = AuthCode {
            client_id: auth.client.id.clone(),
            redirect_uri: auth.redirect_uri.clone(),
            user_id: session.sub.clone(),
            email: session.email.clone(),
            sid: session.sid.clone(),
            nonce: auth.nonce.clone(),
            code_challenge: auth.code_challenge.clone(),
            scope: auth.scope.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            expires_at,
        };
        self.store.put_auth_code(&self.code_id(&code), &grant, ACCESS_TTL).await?;
        Ok(redirect_with(&auth.redirect_uri, &[("code", &code)], auth.state.as_deref()))
    }
}

/// True when the session's second factor was a passkey (RFC 8176 `hwk` or `swk`).
fn by_passkey(session: &SessionClaims) -> bool {
    session.amr.iter().any(|m| m == "hwk" || m == "swk")
}
