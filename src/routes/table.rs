//! The route table: every route the service answers, registered in one place, and how the
//! request extractors refuse input they cannot read.

use actix_web::error::{QueryPayloadError, UrlencodedError};
use actix_web::{HttpRequest, web};

use super::{
    account, account_confirm, account_factors, admin, admin_clients, admin_outbox, admin_pages, api, approve, login,
    logout, oidc, ops, passkeys, second_factor, verify,
};
use crate::error::{ApiError, AppError};
use crate::i18n::{Lang, Messages};

/// Largest request body accepted anywhere, in bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// Every route of the public listener, and the extractors' limits and error pages.
/// `/metrics` is here unless it has a listener of its own (`METRICS_ADDR`).
pub fn configure(cfg: &mut web::ServiceConfig, public_metrics: bool) {
    extractor_limits(cfg);
    // Routes are tried in the order they are registered, each pattern with a `{…}` through a
    // regex: the check a reverse proxy makes before every request of the app it protects
    // comes first.
    cfg.route("/auth/verify", web::get().to(oidc::forward_auth));
    if public_metrics {
        cfg.route("/metrics", web::get().to(ops::public_metrics));
    }
    sign_in(cfg);
    account(cfg);
    admin(cfg);
    oidc(cfg);
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/static/style.css", web::get().to(ops::stylesheet))
        .route("/language/{tag}", web::get().to(super::language::pick))
        .route("/static/passkey.js", web::get().to(ops::passkey_script))
        .route("/static/waiting.js", web::get().to(ops::waiting_script))
        .default_service(web::to(ops::not_found));
}

/// The routes of the metrics listener (`METRICS_ADDR`): `/metrics` alone.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(ops::metrics));
}

/// Body size limits, and a person-readable 400 for a form, JSON body or query that cannot be read.
fn extractor_limits(cfg: &mut web::ServiceConfig) {
    let t = |req: &HttpRequest| Lang::of(req).messages();
    cfg.app_data(
        web::FormConfig::default()
            .limit(MAX_BODY)
            .error_handler(move |e, req| AppError::BadRequest(form_error(t(req), &e)).into()),
    )
    .app_data(web::JsonConfig::default().limit(MAX_BODY).error_handler(move |e, req| {
        ApiError(AppError::BadRequest(t(req).fill(t(req).json_unreadable_detail, e))).into()
    }))
    .app_data(
        web::QueryConfig::default().error_handler(move |e, req| AppError::BadRequest(query_error(t(req), &e)).into()),
    )
    .app_data(web::PayloadConfig::new(MAX_BODY));
}

/// The sign-in flow: the form, the link, the code and the second-factor step.
fn sign_in(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(login::root))
        .route("/login", web::get().to(login::login_page))
        .route("/login", web::post().to(login::request_link))
        .route("/login/verify", web::get().to(verify::confirm_page))
        .route("/login/verify", web::post().to(verify::redeem_link))
        .route("/login/code", web::post().to(verify::redeem_code))
        .route("/login/approve", web::post().to(approve::approve))
        .route("/login/status", web::get().to(approve::status))
        .route("/login/2fa", web::get().to(second_factor::step_page))
        .route("/login/2fa", web::post().to(second_factor::verify))
        .route("/login/2fa/enroll", web::post().to(second_factor::confirm_enrollment))
        .route("/login/2fa/enroll/passkey/start", web::post().to(second_factor::enroll_passkey_start))
        .route("/login/2fa/enroll/passkey", web::post().to(second_factor::confirm_passkey_enrollment))
        .route("/login/2fa/sms", web::post().to(second_factor::send_sms))
        .route("/login/2fa/passkey/start", web::post().to(passkeys::step_start))
        .route("/login/passkey/start", web::post().to(super::passkey_login::start))
        .route("/login/passkey", web::post().to(super::passkey_login::finish))
        .route("/api/v1/login", web::post().to(api::request_link))
        .route("/api/v1/login/code", web::post().to(super::native_login::redeem_app_code))
        .route("/api/v1/login/status", web::get().to(approve::progress))
        .route("/api/v1/session", web::get().to(api::session))
        .route("/api/v1/openapi.json", web::get().to(super::openapi::document));
}

/// The account pages, and signing out.
fn account(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account::account_page))
        .route("/account/totp/enroll", web::post().to(account_factors::enroll_totp))
        .route("/account/totp/confirm", web::post().to(account_factors::confirm_totp))
        .route("/account/totp/disable", web::post().to(account_factors::disable_totp))
        .route("/account/phone/remove", web::post().to(account_factors::remove_phone))
        .route("/account/confirm-factor", web::get().to(account_confirm::confirm_page))
        .route("/account/confirm-factor", web::post().to(account_confirm::confirm))
        .route("/account/confirm-factor/sms", web::post().to(account_confirm::send_sms))
        .route("/account/confirm-factor/passkey/start", web::post().to(account_confirm::passkey_start))
        .route("/account/recovery-codes", web::post().to(account_factors::regenerate_recovery))
        .route("/account/phone", web::post().to(account_factors::add_phone))
        .route("/account/phone/confirm", web::post().to(account_factors::confirm_phone))
        .route("/account/sessions/end", web::post().to(account::end_session))
        .route("/account/not-me", web::get().to(account::not_me_page))
        .route("/account/not-me", web::post().to(account::not_me))
        .route("/logout", web::post().to(account::logout))
        .route("/logout/all", web::post().to(account::logout_all))
        .route("/account/export", web::get().to(super::account_data::export))
        .route("/account/delete", web::get().to(super::account_data::delete_page))
        .route("/account/delete", web::post().to(super::account_data::delete))
        .route("/account/passkeys/register/start", web::post().to(passkeys::register_start))
        .route("/account/passkeys/register/finish", web::post().to(passkeys::register_finish))
        .route("/account/passkeys/remove", web::post().to(passkeys::remove))
        .route("/account/email", web::get().to(super::account_email::email_page))
        .route("/account/email", web::post().to(super::account_email::request_change))
        .route("/account/email/verify", web::get().to(super::account_email::verify_page))
        .route("/account/email/verify", web::post().to(super::account_email::verify))
        .route("/account/email/revert", web::get().to(super::account_email::revert_page))
        .route("/account/email/revert", web::post().to(super::account_email::revert))
        .route("/account/passkeys/rename", web::post().to(passkeys::rename));
}

/// The admin pages and the admin API. `…/revoke-sessions` comes before `…/{action}`, which
/// would match it too.
fn admin(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(admin_pages::dashboard))
        .route("/admin/policy", web::post().to(admin_pages::save_policy))
        .route("/admin/users", web::get().to(admin_pages::user))
        .route("/admin/users/{action}", web::post().to(admin_pages::act))
        .route("/api/v1/admin/policy", web::get().to(admin::get_policy))
        .route("/api/v1/admin/policy", web::put().to(admin::put_policy))
        .route("/api/v1/admin/users/{email}", web::get().to(admin::get_user))
        .route("/api/v1/admin/users/{user}", web::delete().to(super::account_data::admin_delete))
        .route("/api/v1/admin/users/{user}", web::patch().to(super::admin_email::admin_change))
        .route("/api/v1/admin/users/{user}/export", web::get().to(super::account_data::admin_export))
        .route("/api/v1/admin/users/{email}/revoke-sessions", web::post().to(admin::revoke_sessions))
        .route("/api/v1/admin/users/{email}/second-factor", web::delete().to(admin::reset_second_factor))
        .route("/api/v1/admin/users/{email}/passkeys", web::delete().to(admin::remove_all_passkeys))
        .route("/api/v1/admin/users/{email}/passkeys/{id}", web::delete().to(admin::remove_passkey))
        .route("/api/v1/admin/users/{email}/{action}", web::post().to(admin::set_blocked))
        .route("/api/v1/admin/audit", web::get().to(admin::audit))
        .route("/api/v1/admin/outbox", web::get().to(admin_outbox::show))
        .route("/api/v1/admin/outbox/dead/{id}/retry", web::post().to(admin_outbox::retry))
        .route("/api/v1/admin/clients", web::get().to(admin_clients::list))
        .route("/api/v1/admin/clients", web::post().to(admin_clients::create))
        .route("/api/v1/admin/clients/{id}", web::put().to(admin_clients::update))
        .route("/api/v1/admin/clients/{id}", web::delete().to(admin_clients::delete))
        .route("/api/v1/admin/clients/{id}/rotate-secret", web::post().to(admin_clients::rotate_secret));
    deliverability(cfg);
}

/// The suppression list (admin API and page) and the mail providers' bounce webhooks.
fn deliverability(cfg: &mut web::ServiceConfig) {
    use super::{admin_suppressions, bounce_hooks};
    cfg.route("/api/v1/admin/suppressions", web::get().to(admin_suppressions::show))
        .route("/api/v1/admin/suppressions", web::delete().to(admin_suppressions::clear))
        .route("/admin/suppressions", web::get().to(admin_suppressions::page_for))
        .route("/admin/suppressions/clear", web::post().to(admin_suppressions::clear_page))
        .route("/hooks/bounces/{provider}", web::post().to(bounce_hooks::receive));
}

/// The OpenID Connect provider (the reverse proxies' check, `/auth/verify`, comes first).
fn oidc(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(ops::jwks))
        .route("/.well-known/openid-configuration", web::get().to(oidc::discovery))
        .route("/.well-known/oauth-authorization-server", web::get().to(oidc::discovery))
        .route("/oauth2/authorize", web::get().to(oidc::authorize))
        .route("/oauth2/authorize", web::post().to(oidc::authorize_form))
        .route("/oauth2/token", web::post().to(oidc::token))
        .route("/oauth2/revoke", web::post().to(super::oidc_revoke::revoke))
        .route("/oauth2/userinfo", web::get().to(oidc::userinfo))
        .route("/oauth2/userinfo", web::post().to(oidc::userinfo_form))
        .route("/oauth2/logout", web::get().to(logout::logout))
        .route("/oauth2/logout", web::post().to(logout::logout));
}

/// A person-readable reason a form body was refused, in `t`'s language.
fn form_error(t: &Messages, e: &UrlencodedError) -> String {
    match e {
        UrlencodedError::Overflow { .. } => t.form_too_large.to_owned(),
        UrlencodedError::ContentType => t.form_not_web_form.to_owned(),
        // serde's message names the field (`missing field `csrf``, `duplicate field `code``).
        UrlencodedError::Parse(e) => t.fill(t.form_unreadable_detail, e),
        _ => t.form_unreadable.to_owned(),
    }
}

/// A person-readable reason a query string was refused, naming the parameter where serde can.
fn query_error(t: &Messages, e: &QueryPayloadError) -> String {
    match e {
        QueryPayloadError::Deserialize(e) => t.fill(t.query_malformed_detail, e),
        _ => t.query_malformed.to_owned(),
    }
}
