//! The login page and link requests from it.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::AppState;
use super::app_brand::{AppView, app_view, branded_page};
use super::{client, cookies, csrf};
use crate::domain::{Email, EmailError, LocalPath, MatchNumber, TypoSuggestion, Webmail, suggest_domain};
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::signin::{LinkRequested, SignInError};

/// `GET /login`.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    email: String,
    return_to: Option<String>,
    second_factor_required: bool,
    error: Option<String>,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
    /// Offers "Sign in with a passkey" (the policy allows passkeys here).
    passkeys: bool,
    /// Why a passkey did not sign in.
    passkey_error: Option<String>,
    /// "Did you mean …?": the typed address's domain is a near miss of a common one.
    suggestion: Option<TypoSuggestion>,
}

/// "Check your email", with a box for the code; under policy `approve`, the number for
/// another device to type, and a refresh to `/login/status` instead of the box.
#[derive(Template, WebTemplate)]
#[template(path = "sent.html")]
pub struct SentPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    email: String,
    minutes: u64,
    /// Policy `approve`: the number to type on another device.
    number: Option<u8>,
    /// The address's webmail, if its domain is a well-known one.
    webmail: Option<Webmail>,
    /// Shows the code box (otherwise a link to the page with it, which does not refresh).
    code_form: bool,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
}

impl SentPage {
    /// The page for `email`, whose link expires in `minutes`; with `number` it refreshes
    /// itself and shows the code box only when `code_form`.
    pub(super) fn new(
        req: &HttpRequest,
        state: &AppState,
        csrf: &csrf::Csrf,
        email: &Email,
        minutes: u64,
        number: Option<MatchNumber>,
        code_form: bool,
    ) -> Self {
        let lang = Lang::of(req);
        Self {
            t: lang.messages(),
            csrf: csrf.token.clone(),
            email: email.to_string(),
            minutes,
            number: number.map(MatchNumber::value),
            webmail: state.signin.webmail(email, lang),
            code_form: code_form || number.is_none(),
            app: None,
        }
    }

    /// The page naming the app this sign-in is for.
    pub(super) fn for_app(self, app: Option<AppView>) -> Self {
        Self { app, ..self }
    }

    /// True when the page reloads itself from `/login/status` (waiting for an approval).
    fn refresh(&self) -> bool {
        self.number.is_some() && !self.code_form
    }
}

/// Query of `GET /login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    second_factor: Option<String>,
}

/// Body of `POST /login`.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
    return_to: Option<String>,
    /// `required` when the app being signed in to requires a second factor.
    second_factor: Option<String>,
    /// Set by the "Did you mean …?" buttons: the address was chosen, send without asking again.
    typo_checked: Option<String>,
}

/// `GET /`: to the account page (which sends strangers to the login page).
pub async fn root() -> HttpResponse {
    super::account::to_account()
}

/// `GET /login`: the email form.
pub async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(&req, &state.keyring)?;
    let t = Lang::of(&req).messages();
    let return_to = query.return_to.as_deref().and_then(LocalPath::parse);
    let app = match &return_to {
        Some(path) => app_view(&state, t, path, false).await,
        None => None,
    };
    let template = LoginPage {
        t,
        csrf: csrf.token.clone(),
        email: String::new(),
        return_to: return_to.map(|p| p.as_str().to_owned()),
        second_factor_required: query.second_factor.as_deref() == Some("required"),
        error: None,
        app,
        passkeys: passkeys_offered(&state).await,
        passkey_error: None,
        suggestion: None,
    };
    Ok(branded_page(&req, StatusCode::OK, template, &csrf.cookies()))
}

/// `POST /login`: the same "check your email" page for every well-formed address (only the
/// CSRF and attempt cookie values differ); the form again with a 400 for anything else.
/// Returns once the mail is queued.
pub async fn request_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let csrf = csrf::issue(&req, &state.keyring)?;
    let lang = Lang::of(&req);
    let t = lang.messages();
    let return_to = form.return_to.as_deref().and_then(LocalPath::parse);
    let second_factor_required = form.second_factor.as_deref() == Some("required");
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(problem) => {
            let app = match &return_to {
                Some(path) => app_view(&state, t, path, false).await,
                None => None,
            };
            let template = LoginPage {
                t,
                csrf: csrf.token.clone(),
                email: form.email.chars().filter(|c| !c.is_control()).take(254).collect(),
                return_to: return_to.map(|p| p.as_str().to_owned()),
                second_factor_required,
                error: Some(email_problem(t, &problem).to_owned()),
                app,
                passkeys: passkeys_offered(&state).await,
                passkey_error: None,
                suggestion: None,
            };
            return Ok(branded_page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()));
        }
    };
    // A near miss of a common domain: nothing is sent until the person picks an address.
    let suggestion = if form.typo_checked.is_none() { suggest_domain(&email) } else { None };
    if suggestion.is_some() {
        let app = match &return_to {
            Some(path) => app_view(&state, t, path, false).await,
            None => None,
        };
        let template = LoginPage {
            t,
            csrf: csrf.token.clone(),
            email: email.to_string(),
            return_to: return_to.map(|p| p.as_str().to_owned()),
            second_factor_required,
            error: None,
            app,
            passkeys: passkeys_offered(&state).await,
            passkey_error: None,
            suggestion,
        };
        return Ok(branded_page(&req, StatusCode::OK, template, &csrf.cookies()));
    }
    let origin = client::request_origin(&req, &state.trusted_proxies);
    // The app comes from the registry, by the client of the authorization being resumed.
    let app = match &return_to {
        Some(path) => app_view(&state, t, path, true).await,
        None => None,
    };
    let app_name = app.as_ref().map(|a| a.name.clone());
    let requested = match state
        .signin
        .request_link_for_app(email.clone(), return_to.clone(), origin, second_factor_required, lang, app_name)
        .await
    {
        Ok(requested) => requested,
        Err(SignInError::NoMailDomain) => {
            let template = LoginPage {
                t,
                csrf: csrf.token.clone(),
                email: email.to_string(),
                return_to: return_to.map(|p| p.as_str().to_owned()),
                second_factor_required,
                error: Some(t.email_domain_no_mail.to_owned()),
                app,
                passkeys: passkeys_offered(&state).await,
                passkey_error: None,
                suggestion: None,
            };
            return Ok(branded_page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()));
        }
        Err(e) => return Err(e.into()),
    };
    let minutes = requested.cookie_ttl.as_secs().div_ceil(60);
    let template = SentPage::new(&req, &state, &csrf, &email, minutes, requested.number, false).for_app(app);
    let mut cookies = csrf.cookies();
    cookies.push(attempt_cookie(requested));
    Ok(branded_page(&req, StatusCode::OK, template, &cookies))
}

/// True when `/login` offers passkeys: the policy allows them and `PUBLIC_URL` can be a
/// relying party. The page stays up when the policy cannot be read (the store is down): it
/// offers the email form alone then.
async fn passkeys_offered(state: &AppState) -> bool {
    state.second_factors.passkeys_available() && state.signin.passkeys_allowed().await.unwrap_or(false)
}

/// The login page again, saying why a passkey did not sign in (`passkey_error`), for the
/// sign-in `return_to` resumes (and its app's second-factor requirement).
pub(super) async fn passkey_refused_page(
    req: &HttpRequest,
    state: &AppState,
    csrf: &csrf::Csrf,
    (return_to, second_factor_required): (Option<LocalPath>, bool),
    passkey_error: String,
) -> Result<LoginPage, AppError> {
    let t = Lang::of(req).messages();
    let app = match &return_to {
        Some(path) => app_view(state, t, path, false).await,
        None => None,
    };
    Ok(LoginPage {
        t,
        csrf: csrf.token.clone(),
        email: String::new(),
        return_to: return_to.map(|p| p.as_str().to_owned()),
        second_factor_required,
        error: None,
        app,
        passkeys: passkeys_offered(state).await,
        passkey_error: Some(passkey_error),
        suggestion: None,
    })
}

/// How much longer than its link the `__Host-attempt` cookie lives: a waiting page that
/// reloads just after the link expired says so, instead of "unknown link".
const ATTEMPT_COOKIE_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The `__Host-attempt` cookie binding this browser to the link just issued.
pub fn attempt_cookie(requested: LinkRequested) -> Cookie<'static> {
    let ttl = requested.cookie_ttl + ATTEMPT_COOKIE_GRACE;
    cookies::host_cookie(cookies::ATTEMPT, requested.attempt_cookie, Some(ttl))
}

/// The catalogue key that says what is wrong with an address, for a refusal
/// ([`AppError::Invalid`](crate::error::AppError::Invalid)) rendered in the reader's language.
pub fn email_problem_key(problem: &EmailError) -> crate::i18n::Text {
    match problem {
        EmailError::Empty => |t| t.email_empty,
        EmailError::TooLong => |t| t.email_too_long,
        EmailError::ForbiddenCharacter => |t| t.email_forbidden_character,
        EmailError::Malformed => |t| t.email_malformed,
        EmailError::RoutingCharacter => |t| t.email_routing_character,
    }
}

/// How an address that does not parse reads to a person.
pub fn email_problem(t: &Messages, problem: &EmailError) -> &'static str {
    email_problem_key(problem)(t)
}
