//! The sign-in flow: request a link, look at it, redeem it by click or by code. Rules only —
//! no HTTP types.

mod approve;
pub mod binding;
mod devices;
mod email_change;
mod goodbye;
mod notices;
mod passkey;
mod recipients;
mod redeem;
mod second_step;
mod service;

pub use approve::{Progress, Waiting};
pub use devices::REPORT_TTL;
pub use email_change::{
    ChangedBy, EmailChangeOutcome, EmailChangeRequested, EmailChangeView, REVERT_TTL, RevertOutcome,
};
pub use notices::{AccountChange, MadeBy};
pub use passkey::PasskeySignInStarted;
pub use recipients::Recipients;
pub use redeem::LinkView;
pub use second_step::{MAX_SECOND_FACTOR_TRIES, PENDING_TTL, PasskeyOnly, Proof, SecondStep};
pub use service::{
    LinkProblem, LinkRequested, MAX_CODE_TRIES, NewSession, SignIn, SignInDeps, SignInError, SignInOutcome,
};
