//! The OpenAPI 3.1 description of the JSON API (`/api/v1/…`), built from the handlers'
//! `#[utoipa::path]` attributes and the types they read and answer with. Served at
//! `GET /api/v1/openapi.json`; `docs/openapi.json` is a copy that a test keeps equal to it.
//!
//! Most types here only describe bodies that handlers write with `serde_json::json!`; the
//! API tests check real answers against them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use super::{admin, admin_clients, admin_outbox, api, cookies};
use crate::domain::AuditEvent;
use crate::oidc::registry::ClientView;

/// The document: every `/api/v1/…` route, its inputs, and every status it answers with.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "latchkey",
        description = "The JSON API of latchkey, a passwordless login service: asking for a sign-in link, \
            reading the current session, and administration (`/api/v1/admin/…`). Admin routes take \
            `Authorization: Bearer <ADMIN_API_TOKEN>`, or the session cookie of an `ADMIN_EMAILS` account that \
            passed a second factor (a browser's change must also come from the service's own origin)."
    ),
    paths(
        api::request_link,
        api::session,
        super::approve::progress,
        super::native_login::redeem_app_code,
        admin::get_policy,
        admin::put_policy,
        admin::get_user,
        admin::revoke_sessions,
        admin::reset_second_factor,
        admin::remove_passkey,
        admin::remove_all_passkeys,
        admin::set_blocked,
        admin::audit,
        admin_outbox::show,
        admin_outbox::retry,
        admin_clients::list,
        admin_clients::create,
        admin_clients::update,
        admin_clients::delete,
        admin_clients::rotate_secret,
        document,
        super::account_data::admin_export,
        super::account_data::admin_delete,
        super::admin_suppressions::show,
        super::admin_suppressions::clear,
        super::admin_email::admin_change,
    ),
    components(schemas(ErrorBody, ErrorCode, InvalidInput, InvalidPolicy, InvalidClient)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "sign-in", description = "Sign-in links and the current session"),
        (name = "admin", description = "Policy, users, audit log, outbox and OIDC clients"),
        (name = "openapi", description = "This description"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`: this description of the API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "openapi",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn document() -> HttpResponse {
    // Built and serialised once: the document is the same for the life of the process, and
    // a public route should not cost a rebuild per request.
    static DOCUMENT: OnceLock<Option<String>> = OnceLock::new();
    match DOCUMENT.get_or_init(|| serde_json::to_string(&ApiDoc::openapi()).ok()) {
        Some(body) => HttpResponse::Ok().content_type(ContentType::json()).body(body.as_str()),
        None => HttpResponse::InternalServerError().finish(),
    }
}

/// Adds the ways a request can authenticate.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`ADMIN_API_TOKEN`. A wrong token is refused whatever cookie comes with it."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                cookies::SESSION,
                "The session set by signing in. For the admin API: an `ADMIN_EMAILS` account's session that passed \
                 a second factor; a change must also carry `Sec-Fetch-Site: same-origin` or the service's `Origin`.",
            ))),
        );
        components.add_security_scheme(
            "session_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The session token itself, for clients that hold it outside a cookie."))
                    .build(),
            ),
        );
    }
}

/// Refusals every admin route answers with.
#[derive(IntoResponses)]
pub enum AdminRefusals {
    /// A wrong token, or neither a token nor a live session.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Not allowed: a cross-site request; a change without the token that carries neither
    /// `Sec-Fetch-Site: same-origin` nor the service's `Origin`; a session that is not an admin's, or an
    /// admin's without a second factor; or an admin's second factor reset by anything but the token.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

/// Failures any route can answer with.
#[derive(IntoResponses)]
pub enum ServerFailures {
    /// An unexpected failure; `reference` is the id it was logged under.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// The store is unreachable, or cannot vouch for its data: nothing was done (fail closed).
    #[response(status = 503, headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))]
    Unavailable(ErrorBody),
}

/// An error: a code for programs, a message for people.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorCode,
    /// The same, for people (English).
    pub message: String,
    /// For a 5xx: the id under which the details were logged.
    pub reference: Option<String>,
}

/// The `error` codes of [`ErrorBody`].
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A malformed request.
    BadRequest,
    /// Not allowed.
    Forbidden,
    /// No valid credentials.
    Unauthorized,
    /// No such thing.
    NotFound,
    /// Something that existed has ended.
    Gone,
    /// Too many requests.
    RateLimited,
    /// The store is unreachable.
    Unavailable,
    /// An unexpected failure.
    InternalError,
    /// The body is not JSON.
    InvalidJson,
    /// The body was not sent as `application/json`.
    UnsupportedMediaType,
    /// A client with this id exists.
    Exists,
    /// The client comes from `CLIENTS_FILE` and cannot be changed here.
    ReadOnly,
}

/// A query parameter or body field that could not be read, named.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidInput {
    /// `invalid_query` or `invalid_body`.
    #[schema(examples("invalid_query"))]
    pub error: String,
    /// `<field>: <what is wrong>`.
    pub message: String,
    /// The parameter or field at fault (`.` for the whole input).
    pub field: String,
    /// The same, as `{field: what is wrong}`.
    pub fields: BTreeMap<String, String>,
}

/// A policy refused: each field at fault, with what is wrong with it.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidPolicy {
    /// `invalid_policy`.
    #[schema(examples("invalid_policy"))]
    pub error: String,
    /// When the body could not be read as a policy: why.
    pub message: Option<String>,
    /// Field (`link_ttl_secs`, `methods.totp`, `policy` for the whole document) → what is wrong.
    pub fields: BTreeMap<String, String>,
}

/// A client draft refused: the rules it breaks.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidClient {
    /// `invalid_client`.
    #[schema(examples("invalid_client"))]
    pub error: String,
    /// Each rule broken, for people.
    pub problems: Vec<String>,
    /// When a field could not be read: `<field>: <what is wrong>`.
    pub message: Option<String>,
    /// When a field could not be read: which.
    pub field: Option<String>,
    /// When a field could not be read: `{field: what is wrong}`.
    pub fields: Option<BTreeMap<String, String>>,
}

/// A refused policy change: fields at fault, or a body that is not JSON.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum PolicyRefusal {
    /// Fields missing or invalid.
    Fields(InvalidPolicy),
    /// Not JSON.
    Body(ErrorBody),
}

/// A refused query: a malformed parameter, or a value that is not what it names.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum QueryRefusal {
    /// A parameter that could not be read.
    Parameter(InvalidInput),
    /// A value that is not an address.
    Value(ErrorBody),
}

/// A refused client draft: rules broken, or a body that is not JSON.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum ClientRefusal {
    /// Rules broken, or a field that could not be read.
    Draft(InvalidClient),
    /// Not JSON.
    Body(ErrorBody),
}

/// A `version` that is not the current one.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConflict {
    /// `conflict`.
    #[schema(examples("conflict"))]
    pub error: String,
    /// For people.
    pub message: String,
    /// The current version.
    pub version: u64,
}

/// `POST /api/v1/login` accepted.
#[derive(ToSchema)]
pub struct LinkSent {
    /// Always `sent`.
    #[schema(examples("sent"))]
    pub status: String,
    /// For a native app (`client_id`): the attempt handle to send with the code.
    pub handle: Option<String>,
    /// When the address's domain is a near miss of a common one (`ann@gmial.com`): the address
    /// the person probably meant (`ann@gmail.com`). The link went to the address as sent; an
    /// app can offer to send again to this one.
    #[schema(examples("ann@gmail.com"))]
    pub suggestion: Option<String>,
    /// Policy `approve`, a browser's sign-in (no `client_id`): the two-digit number to show.
    /// The link opened on another device asks for it; typing it there approves this browser.
    #[schema(examples(42))]
    pub number: Option<u8>,
    /// With `number`: `/api/v1/login/status`, to poll until the sign-in is no longer
    /// `waiting`; then the browser goes to its `next` (`/login/status`), which signs it in.
    pub status_url: Option<String>,
}

/// Where a sign-in waiting for an approval from another device stands
/// (`GET /api/v1/login/status`).
#[derive(ToSchema)]
pub struct SignInStatus {
    /// `waiting`: ask again (every 1.5 s is fine). `approved`: go to `next` in this browser, which
    /// signs it in. `ended`: go to `next`, which says why (a wrong number, too many wrong codes,
    /// expired, used). `undeliverable`: go to `next`, which says the mail to the address was refused
    /// or bounced. Treat any value but `waiting` as "go to `next`": more may be added.
    #[schema(examples("waiting"))]
    pub status: String,
    /// `/login/status`.
    pub next: String,
}

/// A refusal of the JSON sign-in: a field that could not be read or is refused (`field`), a
/// value that is not what it names, or a native app's request refused.
#[derive(ToSchema)]
pub struct AppRefusal {
    /// `invalid_body` (a field named in `field`), `invalid_grant` (a handle or verifier that does
    /// not match), `wrong_code`, `attempt_ended`, `second_factor_required`, or an [`ErrorCode`].
    pub error: String,
    /// The same, for people (English).
    pub message: String,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// The same, as `{field: what is wrong}`.
    pub fields: Option<BTreeMap<String, String>>,
    /// After a wrong code: how many more codes the attempt takes.
    pub tries_left: Option<u32>,
}

/// The tokens a native app gets (as `POST /oauth2/token` answers them).
#[derive(ToSchema)]
pub struct AppTokens {
    /// Opaque, for `/oauth2/userinfo`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The signed id_token (`aud` = the app's `client_id`, `sid` = the session).
    pub id_token: String,
    /// Granted scopes.
    pub scope: String,
}

/// Sessions ended.
#[derive(ToSchema)]
pub struct SessionsRevoked {
    /// How many.
    pub revoked: u64,
}

/// A deleted account.
#[derive(ToSchema)]
pub struct UserDeleted {
    /// The deleted account's id (`sub`).
    #[schema(examples("3q2-7wZ1kX0mJt9bQe4xAw"))]
    pub deleted: String,
}

/// A second factor reset.
#[derive(ToSchema)]
pub struct SecondFactorRemoved {
    /// Always `removed`.
    #[schema(examples("removed"))]
    pub second_factor: String,
}

/// Passkeys removed by an administrator.
#[derive(ToSchema)]
pub struct PasskeysRemoved {
    /// How many passkeys were removed.
    #[schema(examples(1))]
    pub removed: usize,
}

/// A user's block after the change.
#[derive(ToSchema)]
pub struct BlockState {
    /// True when the user may not sign in.
    pub blocked: bool,
}

/// One page of the audit log.
#[derive(ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; `null` on the last page and for one user's events.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// The outbox: how much waits, and the newest dead letters.
#[derive(ToSchema)]
pub struct OutboxReport {
    /// Waiting for a worker.
    pub ready: u64,
    /// Held by a worker right now.
    pub in_flight: u64,
    /// Failed and waiting for their next attempt.
    pub scheduled: u64,
    /// Given up on.
    pub dead: u64,
    /// The newest dead letters (`limit`).
    pub dead_letters: Vec<admin_outbox::DeadView>,
}

/// A dead letter queued again.
#[derive(ToSchema)]
pub struct Requeued {
    /// Always `requeued`.
    #[schema(examples("requeued"))]
    pub status: String,
}

/// Every client.
#[derive(ToSchema)]
pub struct ClientList {
    /// From `CLIENTS_FILE` first, then those registered through the API.
    pub clients: Vec<ClientView>,
}

/// A client after a change.
#[derive(ToSchema)]
pub struct UpdatedClient {
    /// The client.
    pub client: ClientView,
    /// The new webhook signing secret, shown once, when the change added a webhook; else `null`.
    #[schema(required = true)]
    pub webhook_secret: Option<String>,
}

/// A client's new secret.
#[derive(ToSchema)]
pub struct ClientSecret {
    /// Shown this once.
    pub client_secret: String,
}
