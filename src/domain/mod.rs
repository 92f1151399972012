//! Pure domain types: parsed and normalised input, identifiers, request context.

mod app_brand;
mod audit;
mod client;
mod code;
mod countries;
mod email;
mod ids;
mod limits;
mod link;
mod network;
mod number;
mod origin;
mod phone;
mod policy;
mod return_to;
mod special_ranges;
mod typos;
mod urls;
mod webmail;

pub use app_brand::AppBrand;
pub use audit::{AuditEvent, EventKind};
pub use client::{Client, ClientKind, ClientRegistry, new_client_secret};
pub use code::{CODE_LEN, ShortCode};
pub use countries::AllowedCountries;
pub use email::{Email, EmailError, is_host_name};
pub use ids::{SessionId, UserId, is_store_id};
pub use limits::{Limit, LimitParseError, LimitedAction, RateLimits, parse_duration};
pub use link::{AttemptId, LinkToken};
pub use network::{DEFAULT_IPV6_PREFIX, client_network};
pub use number::MatchNumber;
pub use origin::RequestOrigin;
pub use phone::{PhoneError, PhoneNumber};
pub use policy::{
    CrossDevice, Methods, PolicyFieldError, PolicyProblem, SecondFactorPolicy, SignInPolicy, without_position,
};
pub use return_to::LocalPath;
pub use special_ranges::{SPECIAL_V4, SPECIAL_V6, is_public, special_range};
pub use typos::{TypoSuggestion, suggest_domain};
pub use urls::{
    check_native_redirect_uri, check_redirect_uri, check_web_origin, check_webhook_url, is_loopback, refused_host_name,
};
pub use webmail::Webmail;
