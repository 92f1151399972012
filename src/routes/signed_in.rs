//! Who is signed in to this browser, for the account pages: an extractor that reads the page's
//! form, checks its CSRF token and then looks up the session, in that order.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use super::{AppState, account_confirm, cookies, csrf};
use crate::error::AppError;
use crate::session::{SessionClaims, SessionError};
use crate::signin::AccountChange;

/// The live session of this request, if any. Store failures are errors (503), not "signed out".
pub async fn current_session(req: &HttpRequest, state: &AppState) -> Result<Option<SessionClaims>, AppError> {
    let Some(token) = cookies::session_token(req) else { return Ok(None) };
    match state.sessions.authenticate(&token).await {
        Ok(claims) => Ok(Some(claims)),
        Err(SessionError::Invalid(_) | SessionError::Revoked) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A form with a CSRF token (its hidden `csrf` field).
pub trait CsrfForm: DeserializeOwned + 'static {
    /// The form's token.
    fn csrf(&self) -> &str;
}

/// What a request to an account page carries: nothing to read (`()`, a `GET`), or a
/// [`CsrfForm`], whose token is checked before the session is looked up.
pub trait Submission: Sized + 'static {
    /// Reads it from the request (a form body with `web::Form`'s limits and error pages).
    fn read(req: &HttpRequest, payload: &mut Payload) -> Pin<Box<dyn Future<Output = actix_web::Result<Self>>>>;
    /// The CSRF token to check, if it is a form.
    fn csrf(&self) -> Option<&str>;
}

impl Submission for () {
    fn read(_: &HttpRequest, _: &mut Payload) -> Pin<Box<dyn Future<Output = actix_web::Result<Self>>>> {
        Box::pin(async { Ok(()) })
    }

    fn csrf(&self) -> Option<&str> {
        None
    }
}

impl<F: CsrfForm> Submission for F {
    fn read(req: &HttpRequest, payload: &mut Payload) -> Pin<Box<dyn Future<Output = actix_web::Result<Self>>>> {
        let form = web::Form::<F>::from_request(req, payload);
        Box::pin(async move { Ok(form.await?.into_inner()) })
    }

    fn csrf(&self) -> Option<&str> {
        Some(CsrfForm::csrf(self))
    }
}

/// The person signed in to this browser, and the form they sent (`F`, with its CSRF token
/// checked). A request without a live session is refused (401); one that fails the CSRF check,
/// first (403).
pub struct SignedIn<F = ()> {
    /// Their session.
    pub claims: SessionClaims,
    /// What they sent.
    pub form: F,
    req: HttpRequest,
    state: web::Data<AppState>,
}

impl<F> SignedIn<F> {
    /// `None` when this session may change the second factors now; otherwise the answer that
    /// refuses it ("confirm it's you", or "sign in again": [`account_confirm::unless_fresh`]).
    pub async fn unless_fresh(&self) -> Result<Option<HttpResponse>, AppError> {
        account_confirm::unless_fresh(&self.req, &self.state, &self.claims).await
    }

    /// Tells the owner, the audit log and the apps about `change` ([`account_confirm::announce`]).
    pub async fn announce(&self, change: AccountChange) -> Result<(), AppError> {
        account_confirm::announce(&self.req, &self.state, &self.claims, change).await
    }
}

/// Like [`SignedIn`], for pages that send a stranger to sign in rather than refuse them: `None`
/// when the browser has no live session (a failed CSRF check or an unreachable store is still
/// an error).
pub struct Visitor<F = ()>(pub Option<SignedIn<F>>);

/// The form read, its token checked, then the session looked up.
async fn visit<F: Submission>(
    req: HttpRequest,
    form: Pin<Box<dyn Future<Output = actix_web::Result<F>>>>,
) -> actix_web::Result<Option<SignedIn<F>>> {
    let form = form.await?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the application state is not registered")))?;
    match form.csrf() {
        Some(token) => csrf::verify(&req, &state.keyring, &state.public_origin, token)?,
        // Without a form there is no token to check: only a read may go on, so a handler that
        // changes something cannot take `SignedIn<()>` and skip the CSRF check by mistake.
        None if req.method() != Method::GET && req.method() != Method::HEAD => {
            return Err(AppError::Forbidden(|t| t.error_cross_site).into());
        }
        None => {}
    }
    let claims = current_session(&req, &state).await?;
    Ok(claims.map(|claims| SignedIn { claims, form, req, state }))
}

impl<F: Submission> FromRequest for Visitor<F> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = actix_web::Result<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let visit = visit(req.clone(), F::read(req, payload));
        Box::pin(async move { visit.await.map(Visitor) })
    }
}

impl<F: Submission> FromRequest for SignedIn<F> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = actix_web::Result<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let visit = visit(req.clone(), F::read(req, payload));
        Box::pin(async move { visit.await?.ok_or_else(|| AppError::Unauthorized.into()) })
    }
}
