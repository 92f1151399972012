//! The sign-in flow: request a link, look at it, redeem it by click or by code. Rules only —
//! no HTTP types.

pub mod binding;
mod redeem;
mod service;

pub use redeem::LinkView;
pub use service::{LinkProblem, LinkRequested, MAX_CODE_TRIES, SignIn, SignInDeps, SignInError, SignedIn};
