//! Changing the account's address: the form on `/account/email` (a second factor used in the
//! last ten minutes, or a recent sign-in for an account without one), the link mailed to the
//! new address (`/account/email/verify`: a confirm page, the code in another browser), and the
//! old address's "this wasn't me" (`/account/email/revert`).
//!
//! Sessions: when the address changes, every session of the account ends (their tokens carry
//! the old address, and id_tokens take the address from the session); the browser that redeems
//! the link, when it is signed in to the account, gets its session again with the new address,
//! keeping when and how it signed in.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::account_confirm::Freshness;
use super::login::email_problem;
use super::signed_in::{CsrfForm, current_session};
use super::{AppState, SignedIn, Visitor, client, cookies, csrf, page};
use crate::domain::{Email, EventKind, LinkToken, UserId};
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::session::SessionClaims;
use crate::signin::{ChangedBy, EmailChangeOutcome, EmailChangeView, RevertOutcome, SignInError};
use crate::store::User;

/// Binds the browser that asked for a change of address to the link mailed to the new one.
pub const EMAIL_CHANGE_COOKIE: &str = "__Host-email-change";

/// Every page of a change of address: a heading, sentences, maybe one form.
#[derive(Template, WebTemplate)]
#[template(path = "email_change.html")]
pub struct EmailChangePage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    title: &'static str,
    lines: Vec<String>,
    error: Option<String>,
    /// Offer the "confirm it's you" page.
    confirm_factor: bool,
    form: Option<PageForm>,
    /// Link back to the account page.
    back: bool,
}

/// The page's form.
struct PageForm {
    action: &'static str,
    hidden: Vec<(&'static str, String)>,
    /// An address field, with this value.
    email: Option<String>,
    /// A code field.
    code: bool,
    button: &'static str,
}

impl EmailChangePage {
    fn new(t: &'static Messages, title: &'static str, lines: Vec<String>) -> Self {
        Self { t, csrf: String::new(), title, lines, error: None, confirm_factor: false, form: None, back: true }
    }
}

/// Body of `POST /account/email`.
#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    /// The new address.
    #[serde(default)]
    email: String,
}

impl CsrfForm for EmailForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The link's query: whose change, and its token.
#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    token: String,
}

/// Body of `POST /account/email/verify` and `POST /account/email/revert`.
#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    token: String,
    /// The code from the mail (another browser), if typed.
    #[serde(default)]
    code: String,
}

impl CsrfForm for LinkForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn to_login() -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, "/login?return_to=/account/email")).finish()
}

/// Renders `template` with a fresh CSRF token.
fn render(
    req: &HttpRequest,
    state: &AppState,
    mut template: EmailChangePage,
    status: StatusCode,
    mut extra: Vec<actix_web::cookie::Cookie<'static>>,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(req, &state.keyring)?;
    template.csrf = csrf.token.clone();
    let mut cookies = csrf.cookies();
    cookies.append(&mut extra);
    Ok(page(req, status, template, &cookies))
}

/// The form (or why this session may not use it now).
fn form_page(t: &'static Messages, current: &Email, freshness: Freshness, value: String) -> EmailChangePage {
    let mut template = EmailChangePage::new(t, t.email_change_title, vec![t.fill(t.email_change_intro, current)]);
    match freshness {
        Freshness::Fresh => {
            template.form = Some(PageForm {
                action: "/account/email",
                hidden: Vec::new(),
                email: Some(value),
                code: false,
                button: t.email_change_button,
            });
        }
        Freshness::NeedsFactor => {
            template.error = Some(t.email_change_needs_factor.to_owned());
            template.confirm_factor = true;
        }
        Freshness::NeedsSignIn => template.error = Some(t.email_change_needs_sign_in.to_owned()),
    }
    template
}

/// `GET /account/email`: the form for the new address.
pub async fn email_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, .. })) = visitor else { return Ok(to_login()) };
    let t = Lang::of(&req).messages();
    let template = form_page(t, &claims.email, Freshness::of(&state, &claims).await?, String::new());
    render(&req, &state, template, StatusCode::OK, Vec::new())
}

/// `POST /account/email`: from a fresh session, mails the new address a link and a code (or,
/// when it has an account, why nothing changes — the page says the same either way).
pub async fn request_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed_in: SignedIn<EmailForm>,
) -> Result<HttpResponse, AppError> {
    let claims = &signed_in.claims;
    let t = Lang::of(&req).messages();
    let freshness = Freshness::of(&state, claims).await?;
    let typed: String = signed_in.form.email.chars().filter(|c| !c.is_control()).take(254).collect();
    if freshness != Freshness::Fresh {
        let template = form_page(t, &claims.email, freshness, typed);
        return render(&req, &state, template, StatusCode::FORBIDDEN, Vec::new());
    }
    let refuse = |message: &str| {
        let mut template = form_page(t, &claims.email, freshness, typed.clone());
        template.error = Some(message.to_owned());
        render(&req, &state, template, StatusCode::BAD_REQUEST, Vec::new())
    };
    let to = match Email::parse(&signed_in.form.email) {
        Ok(email) => email,
        Err(problem) => return refuse(email_problem(t, &problem)),
    };
    let user = state.store.get_user(&claims.sub).await?.ok_or(AppError::Unauthorized)?;
    if to == user.email {
        return refuse(t.email_change_same);
    }
    if !state.admin.policy().await?.signup_allowed(&to) {
        return refuse(t.email_change_not_allowed);
    }
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let requested = state.signin.request_email_change(&user, &to, &origin, Lang::of(&req)).await?;
    let until = requested.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let template =
        EmailChangePage::new(t, t.email_change_sent_title, vec![t.fill2(t.email_change_sent_body, &to, until)]);
    let cookie = cookies::host_cookie(EMAIL_CHANGE_COOKIE, requested.cookie, Some(requested.ttl));
    render(&req, &state, template, StatusCode::OK, vec![cookie])
}

/// The user and token a link names; `None` when either cannot be one.
fn link_of(user: &str, token: &str) -> Option<(UserId, LinkToken)> {
    Some((UserId::parse(user)?, LinkToken::parse(token)?))
}

/// A link that cannot be used: its page (no cookie set).
fn link_problem(req: &HttpRequest, state: &AppState, message: &'static str) -> Result<HttpResponse, AppError> {
    let t = Lang::of(req).messages();
    let mut template = EmailChangePage::new(t, t.email_change_confirm_title, Vec::new());
    template.error = Some(message.to_owned());
    render(req, state, template, StatusCode::GONE, Vec::new())
}

/// The page of a pending change: one button, the code form, or "open it where you asked".
fn change_page(t: &'static Messages, view: &EmailChangeView, user: &UserId, token: &LinkToken) -> EmailChangePage {
    match view {
        EmailChangeView::Confirm(change) => {
            let line = t.fill2(t.email_change_confirm_body, change.from.masked(), &change.to);
            link_form(t, user, token, false, vec![line])
        }
        EmailChangeView::EnterCode(change) => {
            link_form(t, user, token, true, vec![t.fill(t.email_change_code_body, &change.to)])
        }
        EmailChangeView::OtherBrowserDenied(_) => {
            let mut template =
                EmailChangePage::new(t, t.email_change_confirm_title, vec![t.email_change_denied.to_owned()]);
            template.back = false;
            template
        }
    }
}

/// The link's form: one button, or the code field.
fn link_form(
    t: &'static Messages,
    user: &UserId,
    token: &LinkToken,
    code: bool,
    lines: Vec<String>,
) -> EmailChangePage {
    let mut template = EmailChangePage::new(t, t.email_change_confirm_title, lines);
    template.back = false;
    template.form = Some(PageForm {
        action: "/account/email/verify",
        hidden: vec![("user", user.as_str().to_owned()), ("token", token.expose().to_owned())],
        email: None,
        code,
        button: t.email_change_confirm_button,
    });
    template
}

/// `GET /account/email/verify?user=…&token=…`: what the link does, without doing it (mail
/// scanners open links).
pub async fn verify_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    let t = Lang::of(&req).messages();
    let Some((user, token)) = link_of(&query.user, &query.token) else {
        return link_problem(&req, &state, t.email_change_link_problem);
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let cookie = super::cookies::sent(&req, EMAIL_CHANGE_COOKIE);
    match state.signin.preview_email_change(&user, &token, cookie.as_deref(), &origin).await {
        Ok(view) => render(&req, &state, change_page(t, &view, &user, &token), StatusCode::OK, Vec::new()),
        Err(SignInError::Link(_)) => link_problem(&req, &state, t.email_change_link_problem),
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/email/verify`: makes the change — with one click in the browser that asked,
/// or with the code from the mail in another (policy permitting). Then every session of the
/// account ends (this browser's, if it is the account's, starts again with the new address),
/// the old address gets a notice with "this wasn't me", the change is audited and the apps get
/// `user.email_changed`.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let t = Lang::of(&req).messages();
    // The account's session in this browser, if any: it goes on with the new address.
    let claims = current_session(&req, &state).await?;
    let Some((user, token)) = link_of(&form.user, &form.token) else {
        return link_problem(&req, &state, t.email_change_link_problem);
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let cookie = super::cookies::sent(&req, EMAIL_CHANGE_COOKIE);
    let redeemed = if form.code.trim().is_empty() {
        state.signin.redeem_email_link(&user, &token, cookie.as_deref(), &origin).await
    } else {
        state.signin.redeem_email_code(&user, &token, cookie.as_deref(), &form.code, &origin).await
    };
    let wrong = |message: String| {
        let mut template = link_form(t, &user, &token, true, Vec::new());
        template.error = Some(message);
        render(&req, &state, template, StatusCode::BAD_REQUEST, Vec::new())
    };
    match redeemed {
        Ok(EmailChangeOutcome::Changed { user: record, from }) => {
            changed(&req, &state, claims.as_ref(), &record, &from).await
        }
        Ok(EmailChangeOutcome::Taken(_)) => {
            let mut template = EmailChangePage::new(t, t.email_change_confirm_title, Vec::new());
            template.error = Some(t.email_change_taken_page.to_owned());
            render(&req, &state, template, StatusCode::CONFLICT, vec![cookies::removal(EMAIL_CHANGE_COOKIE)])
        }
        Ok(EmailChangeOutcome::NotAllowed(_)) => {
            let mut template = EmailChangePage::new(t, t.email_change_confirm_title, Vec::new());
            template.error = Some(t.email_change_not_allowed.to_owned());
            render(&req, &state, template, StatusCode::FORBIDDEN, vec![cookies::removal(EMAIL_CHANGE_COOKIE)])
        }
        Err(SignInError::WrongCode(left)) => wrong(t.fill(t.count(&t.code_wrong_tries_left, left), left)),
        Err(SignInError::MalformedCode) => wrong(t.code_malformed.to_owned()),
        Err(SignInError::Link(_)) => link_problem(&req, &state, t.email_change_link_problem),
        Err(e) => Err(e.into()),
    }
}

/// After the address changed by the link: sessions, notices, audit, apps; the page.
async fn changed(
    req: &HttpRequest,
    state: &AppState,
    claims: Option<&SessionClaims>,
    user: &User,
    from: &Email,
) -> Result<HttpResponse, AppError> {
    let t = Lang::of(req).messages();
    let origin = client::request_origin(req, &state.trusted_proxies);
    // The owners of both addresses are told first, and the sessions end even if the notices
    // could not be queued: the address has moved, whatever fails.
    let told = state.signin.email_changed(Lang::of(req), user, from, ChangedBy::Owner, &origin).await;
    state.oidc.notify_email_changed(&user.id, &user.email).await;
    let session = state.sessions.restart_for_new_address(user, claims).await?;
    state.audit.record(EventKind::SessionsRevoked, Some(&user.id), &origin, "address changed").await;
    state.oidc.notify_ended(&user.id, None).await;
    told?;
    let mut extra = vec![cookies::removal(EMAIL_CHANGE_COOKIE)];
    if let Some(session) = session {
        let value = session.token.expose_secret().to_owned();
        extra.push(cookies::host_cookie(cookies::SESSION, value, Some(session.max_age)));
    }
    let template =
        EmailChangePage::new(t, t.email_change_done_title, vec![t.fill(t.email_change_done_body, &user.email)]);
    render(req, state, template, StatusCode::OK, extra)
}

/// `GET /account/email/revert?user=…&token=…`: what "this wasn't me" will do.
pub async fn revert_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    let t = Lang::of(&req).messages();
    let revert = match UserId::parse(&query.user) {
        Some(user) if !query.token.is_empty() && query.token.len() <= 64 => {
            state.signin.revert_for(&user, &query.token).await?.map(|r| (user, r))
        }
        _ => None,
    };
    let Some((user, revert)) = revert else { return link_problem(&req, &state, t.email_revert_problem) };
    let line = t.fill2(t.email_revert_body, &revert.from, revert.to.masked());
    let mut template = EmailChangePage::new(t, t.email_revert_title, vec![line]);
    template.back = false;
    template.form = Some(PageForm {
        action: "/account/email/revert",
        hidden: vec![("user", user.as_str().to_owned()), ("token", query.token.clone())],
        email: None,
        code: false,
        button: t.email_revert_button,
    });
    render(&req, &state, template, StatusCode::OK, Vec::new())
}

/// `POST /account/email/revert`: restores the address the link went to (when it is still
/// free) and ends every session of the account either way; audited, mailed, the apps told.
pub async fn revert(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let t = Lang::of(&req).messages();
    let Some(user) = UserId::parse(&form.user).filter(|_| !form.token.is_empty() && form.token.len() <= 64) else {
        return link_problem(&req, &state, t.email_revert_problem);
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let Some(outcome) = state.signin.revert_email_change(&user, &form.token).await? else {
        return link_problem(&req, &state, t.email_revert_problem);
    };
    // The owners are told first, and the sessions end even if the notices could not be
    // queued: the address has moved, whatever fails.
    let (line, told) = match outcome {
        RevertOutcome::Restored { user: record, from } => {
            let told = state.signin.email_changed(Lang::of(&req), &record, &from, ChangedBy::Revert, &origin).await;
            state.oidc.notify_email_changed(&record.id, &record.email).await;
            (t.fill(t.email_revert_done, &record.email), told)
        }
        RevertOutcome::Taken(address) => (t.fill(t.email_revert_taken, &address), Ok(())),
    };
    state.sessions.end_user(&user).await?;
    state.audit.record(EventKind::SessionsRevoked, Some(&user), &origin, "email change reverted").await;
    state.oidc.notify_ended(&user, None).await;
    told?;
    let mut template = EmailChangePage::new(t, t.email_revert_title, vec![line]);
    template.back = false;
    render(&req, &state, template, StatusCode::OK, vec![cookies::removal(cookies::SESSION)])
}
