//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an app asks latchkey to end
//! the person's session, then to send them back.

use actix_web::http::header::LOCATION;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::AppState;
use super::signed_in::current_session;
use super::{cookies, csrf, page};
use crate::domain::Client;
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::session::SessionClaims;

/// "Sign out of latchkey?" when a logout request cannot prove it came from the app.
#[derive(Template, WebTemplate)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    /// The app to return to, when it named a registered address: its name, and the fields
    /// the confirmation carries back to `POST /oauth2/logout`.
    app: Option<ReturnToApp>,
}

/// Where the confirmed sign-out returns to.
struct ReturnToApp {
    name: String,
    client_id: String,
    uri: String,
    state: Option<String>,
}

/// "You are signed out".
#[derive(Template, WebTemplate)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
}

/// Parameters of RP-initiated logout.
#[derive(serde::Deserialize, Default)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    /// Only from the confirm page's form: the person said yes.
    csrf: Option<String>,
}

/// `GET|POST /oauth2/logout`: with an `id_token_hint` we issued for this browser's session,
/// ends it and returns to a registered `post_logout_redirect_uri`; otherwise asks first, and
/// the answer (a form post from that page) ends the session and returns there.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LogoutParams>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    // GET carries the parameters in the query; POST in a form body.
    let params = if body.is_empty() {
        query.into_inner()
    } else {
        let mut p = LogoutParams::default();
        for (k, v) in url::form_urlencoded::parse(&body) {
            let slot = match k.as_ref() {
                "id_token_hint" => &mut p.id_token_hint,
                "client_id" => &mut p.client_id,
                "post_logout_redirect_uri" => &mut p.post_logout_redirect_uri,
                "state" => &mut p.state,
                "csrf" => &mut p.csrf,
                _ => continue,
            };
            *slot = Some(v.into_owned());
        }
        p
    };
    if req.method() == Method::POST
        && let Some(token) = params.csrf.as_deref()
    {
        csrf::verify(&req, &state.keyring, &state.public_origin, token)?;
        let back = return_address(&state, &params, None).await?;
        let session = current_session(&req, &state).await?;
        return end_and_return(&req, &state, session, back.as_ref(), params.state.as_deref()).await;
    }
    let hint = match params.id_token_hint.as_deref() {
        Some(hint) => state.oidc.logout_hint(hint).await?,
        None => None,
    };
    let Some((claims, client)) = hint else {
        // No hint (or one we cannot read): a registered address of the named client, after asking.
        if params.post_logout_redirect_uri.is_some() && params.client_id.is_none() {
            return Err(AppError::Invalid(|t| t.logout_unverifiable));
        }
        let back = return_address(&state, &params, None).await?;
        return confirm_page(&req, &state, back, &params);
    };
    if params.client_id.as_deref().is_some_and(|id| id != client.id) {
        return Err(AppError::Invalid(|t| t.logout_wrong_app));
    }
    let back = return_address(&state, &params, Some(client)).await?;
    // The hint must name this browser's session; anyone else's hint only gets the question.
    let Some(session) = current_session(&req, &state).await?.filter(|s| s.sid == claims.sid && s.sub == claims.sub)
    else {
        return confirm_page(&req, &state, back, &params);
    };
    end_and_return(&req, &state, Some(session), back.as_ref(), params.state.as_deref()).await
}

/// The registered `post_logout_redirect_uri` of the request's client (the hint's, else
/// `client_id`'s), with that client; `None` when none was asked for; a 400 when it is not
/// registered for that client.
async fn return_address(
    state: &AppState,
    params: &LogoutParams,
    hinted: Option<Client>,
) -> Result<Option<(Client, String)>, AppError> {
    let Some(uri) = params.post_logout_redirect_uri.clone() else { return Ok(None) };
    let client = match (hinted, params.client_id.as_deref()) {
        (Some(client), _) => Some(client),
        (None, Some(id)) => state.oidc.client(id).await?,
        (None, None) => None,
    };
    match client {
        Some(client) if client.allows_post_logout(&uri) => Ok(Some((client, uri))),
        _ => Err(AppError::Invalid(|t| t.logout_unregistered_return)),
    }
}

/// "Sign out of latchkey?", carrying the way back to the app when there is one.
fn confirm_page(
    req: &HttpRequest,
    state: &AppState,
    back: Option<(Client, String)>,
    params: &LogoutParams,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(req, &state.keyring)?;
    let app = back.map(|(client, uri)| ReturnToApp {
        name: client.name,
        client_id: client.id,
        uri,
        state: params.state.clone(),
    });
    let template = LogoutConfirmPage { t: Lang::of(req).messages(), csrf: csrf.token.clone(), app };
    Ok(page(req, StatusCode::OK, template, &csrf.cookies()))
}

/// Ends `session` (if any: it may have ended already), tells its apps, clears the cookie and
/// returns to the app's registered address with `state`, or shows "You are signed out".
async fn end_and_return(
    req: &HttpRequest,
    state: &AppState,
    session: Option<SessionClaims>,
    back: Option<&(Client, String)>,
    app_state: Option<&str>,
) -> Result<HttpResponse, AppError> {
    if let Some(session) = session {
        state.sessions.end(&session).await?;
        let origin = super::client::request_origin(req, &state.trusted_proxies);
        let detail = back.map(|(client, _)| format!("by app {}", client.id)).unwrap_or_default();
        state.audit.record(crate::audit::EventKind::SessionEnded, Some(&session.sub), &origin, &detail).await;
        state.oidc.notify_ended(&session.sub, Some(&session.sid)).await;
    }
    let removal = cookies::removal(cookies::SESSION);
    match back {
        Some((_, uri)) => {
            let mut url = url::Url::parse(uri).map_err(|e| AppError::Internal(e.into()))?;
            if let Some(s) = app_state {
                url.query_pairs_mut().append_pair("state", s);
            }
            Ok(HttpResponse::SeeOther().cookie(removal).insert_header((LOCATION, url.as_str())).finish())
        }
        None => Ok(page(req, StatusCode::OK, SignedOutPage { t: Lang::of(req).messages() }, &[removal])),
    }
}
