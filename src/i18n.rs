//! The message catalogue: every sentence of the sign-in pages and the sign-in mail, in each
//! language, picked from `Accept-Language`.
//!
//! A catalogue is one [`Messages`] value per language. Its fields are the keys, so a language
//! that lacks a key does not compile; a unit test checks that no entry is empty and that each
//! translation keeps the English placeholders (`{0}`, `{1}`, `{2}`).

use std::fmt::Display;

use actix_web::HttpRequest;
use actix_web::http::header::{ACCEPT_LANGUAGE, HeaderMap};
use serde::{Deserialize, Serialize};

/// A language the pages and mails are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    /// English, the default.
    #[default]
    En,
    /// German.
    De,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The BCP 47 tag, for `<html lang>` and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// This language's catalogue.
    pub fn messages(self) -> &'static Messages {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }

    /// The language whose primary subtag is `tag` (`de`, `de-AT`, `DE`), if we have it.
    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        Lang::ALL.into_iter().find(|l| l.tag().eq_ignore_ascii_case(primary))
    }

    /// The best language for an `Accept-Language` value: highest q first, earlier first among
    /// equals; `*`, `q=0` and unknown languages are skipped; English when nothing matches.
    pub fn negotiate(accept_language: &str) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for item in accept_language.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .next()
                .map_or(Some(1000), parse_q);
            let (Some(q), Some(lang)) = (q, Lang::from_tag(tag)) else { continue };
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }

    /// The language of a request's `Accept-Language` header.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(Lang::negotiate).unwrap_or_default()
    }

    /// The language of a request.
    pub fn of(req: &HttpRequest) -> Lang {
        Lang::from_headers(req.headers())
    }
}

/// A q-value in thousandths (`0.8` → 800); `None` when malformed.
fn parse_q(raw: &str) -> Option<u16> {
    let value: f32 = raw.trim().parse().ok()?;
    (0.0..=1.0).contains(&value).then(|| (value * 1000.0).round() as u16)
}

/// Declares [`Messages`] with one `&'static str` field per key, and the list of its entries.
macro_rules! catalogue {
    ($($(#[doc = $doc:literal])+ $key:ident,)+) => {
        /// One language's messages. Placeholders `{0}`, `{1}`, `{2}` are filled by
        /// [`Messages::fill`] and friends.
        #[derive(Debug)]
        pub struct Messages {
            /// The language these messages are in.
            pub lang: Lang,
            $($(#[doc = $doc])+ pub $key: &'static str,)+
        }

        impl Messages {
            /// Every `(key, message)`, for tests and tooling.
            pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($key), self.$key),)+]
            }
        }
    };
}

catalogue! {
    /// Label of every email field.
    email_label,
    /// Login page title and heading.
    login_title,
    /// Login page: what happens.
    login_intro,
    /// Login page button.
    login_button,
    /// "Check your email" title.
    sent_title,
    /// `{0}` address, `{1}` minutes.
    sent_body,
    /// Label of the code box on the "check your email" page.
    sent_code_label,
    /// Button of the code box on the "check your email" page.
    sent_code_button,
    /// Before the "ask again" link.
    sent_nothing_there,
    /// The "ask again" link.
    sent_ask_again,
    /// After the "ask again" link.
    sent_replaces,
    /// Confirm page title.
    confirm_title,
    /// `{0}` address.
    confirm_heading,
    /// `{0}` when, `{1}` IP, `{2}` browser.
    confirm_requested,
    /// Confirm page opened in another browser.
    confirm_other_browser,
    /// The sign-in button (confirm page, code page, mail).
    sign_in_button,
    /// Confirm page: nothing happens until the button.
    confirm_not_you,
    /// Code page title.
    code_title,
    /// `{0}` when, `{1}` IP, `{2}` browser: requested in another browser.
    code_other_browser,
    /// Code page in another browser: if you did not ask.
    code_not_you,
    /// `{0}` when the mail was sent.
    code_from_mail_at,
    /// Label of the code field.
    code_label,
    /// Wrong code, one try left.
    code_wrong_one_left,
    /// Wrong code; `{0}` tries left.
    code_wrong_tries_left,
    /// What was typed cannot be a code.
    code_malformed,
    /// Deny page title.
    other_browser_title,
    /// Deny page heading.
    other_browser_heading,
    /// `{0}` address, `{1}` when, `{2}` IP and browser.
    other_browser_body,
    /// Unknown link: title.
    link_unknown_title,
    /// Unknown link: what to do.
    link_unknown_body,
    /// Expired link: title.
    link_expired_title,
    /// Expired link: what to do.
    link_expired_body,
    /// Used link: title.
    link_used_title,
    /// Used link: what to do.
    link_used_body,
    /// Replaced link: title.
    link_superseded_title,
    /// Replaced link: what to do.
    link_superseded_body,
    /// Too many wrong codes: title.
    link_dead_title,
    /// Too many wrong codes: what to do.
    link_dead_body,
    /// The "send a new link" button.
    link_new_button,
    /// Second step: title.
    second_title,
    /// Second step: heading.
    second_heading,
    /// `{0}` address.
    second_signing_in_as,
    /// Label of the authenticator code.
    second_totp_label,
    /// The verify button.
    second_verify_button,
    /// `{0}` phone number.
    second_sms_label,
    /// Button: a new text.
    second_sms_again,
    /// `{0}` phone number.
    second_sms_send,
    /// Recovery code summary.
    second_recovery_summary,
    /// Recovery code label.
    second_recovery_label,
    /// Recovery code button.
    second_recovery_button,
    /// A wrong second-factor code.
    second_wrong_code,
    /// A text was sent.
    second_sms_sent,
    /// Text messages are turned off.
    second_sms_unavailable,
    /// Texts are paused for everyone (the service-wide limit); other methods still work.
    second_sms_paused,
    /// Signed-out page title.
    signed_out_title,
    /// Signed-out page heading.
    signed_out_heading,
    /// Signed-out page link.
    signed_out_again,
    /// Error page: the way back.
    error_back,
    /// `{0}` reference id.
    error_reference,
    /// 400 title.
    error_400,
    /// 401 title.
    error_401,
    /// 403 title.
    error_403,
    /// 404 title.
    error_404,
    /// 410 title.
    error_410,
    /// 429 title.
    error_429,
    /// 500 title.
    error_500,
    /// 503 title.
    error_503,
    /// 401 message.
    error_sign_in_first,
    /// 404 message.
    error_not_found,
    /// 500 message.
    error_internal,
    /// 503 message.
    error_unavailable,
    /// 429 message; `{0}` is the wait ("3 minutes").
    error_rate_limited,
    /// A wait of one second.
    wait_one_second,
    /// `{0}` seconds.
    wait_seconds,
    /// A wait of one minute.
    wait_one_minute,
    /// `{0}` minutes.
    wait_minutes,
    /// CSRF: a request from another site.
    error_cross_site,
    /// CSRF: the form's token is old or missing.
    error_form_expired,
    /// The second-factor step ended.
    error_step_ended,
    /// A second-factor code expired or was used (account page).
    error_code_ended,
    /// The not-me link is over.
    error_not_me_ended,
    /// Changing a factor needs a fresh sign-in with one.
    error_factor_not_fresh,
    /// Setting up a first second factor needs a recent sign-in by link.
    error_first_factor_sign_in_again,
    /// An admin's factor needs the API token.
    error_admin_needs_token,
    /// The account has a second factor whose data the store lost: no session, ask an admin.
    error_factor_missing,
    /// A change by cookie from elsewhere.
    error_admin_cookie_origin,
    /// Admin page without a second factor.
    error_admin_page_needs_factor,
    /// Admin API without a second factor.
    error_admin_api_needs_factor,
    /// Email: empty.
    email_empty,
    /// Email: too long.
    email_too_long,
    /// Email: control or forbidden characters.
    email_forbidden_character,
    /// Email: not an address.
    email_malformed,
    /// Email: `%`, `!` or an encoded word in the local part.
    email_routing_character,
    /// Mail subject.
    mail_subject,
    /// Mail greeting.
    mail_hello,
    /// `{0}` site: above the button.
    mail_use_button,
    /// `{0}` site: above the link (text part).
    mail_use_link,
    /// Above the copyable address.
    mail_copy_address,
    /// Above the code.
    mail_other_device,
    /// `{0}` minutes, `{1}` time.
    mail_expiry,
    /// `{0}` when, `{1}` IP, `{2}` browser.
    mail_requested,
    /// What to do if it wasn't you.
    mail_not_you,
    /// `{0}` support address.
    mail_support,
    /// Account page title and heading.
    account_title,
    /// Account page: the address.
    account_email,
    /// Account page: when and how you signed in.
    account_signed_in,
    /// `{0}` when, `{1}` sign-in methods.
    account_signed_in_with,
    /// Account page: when the session ends.
    account_session_ends,
    /// Account page: the second-factor heading.
    account_second_factor,
    /// Account page: before the authenticator app's state.
    account_totp,
    /// A factor that is on.
    account_on,
    /// A factor that is off.
    account_off,
    /// `{0}` recovery codes left.
    account_recovery_left,
    /// Label of the code that makes new recovery codes.
    account_regenerate_label,
    /// Button: new recovery codes.
    account_regenerate_button,
    /// Label of the code that turns the app off.
    account_disable_label,
    /// Button: turn the app off.
    account_disable_button,
    /// Why a second factor.
    account_totp_why,
    /// Setting up an authenticator app: title, heading and the account page's button.
    enroll_title,
    /// Account page: before the phone number.
    account_sms,
    /// Label of the phone number field.
    account_phone_label,
    /// Text messages are the weaker factor.
    account_phone_weaker,
    /// Button: text a code to the new number.
    account_phone_button,
    /// Account page: the session list heading.
    account_sessions,
    /// `{0}` browser, `{1}` IP address.
    account_device_from,
    /// The session of this browser.
    account_this_browser,
    /// `{0}` created, `{1}` last seen.
    account_since,
    /// Account page: the activity heading.
    account_activity,
    /// The sign-out button (account page, sign-out question).
    sign_out_button,
    /// The sign-out-everywhere button.
    sign_out_everywhere_button,
    /// Activity: a session began.
    activity_signed_in,
    /// Activity: a session ended.
    activity_signed_out,
    /// Activity: every session ended.
    activity_signed_out_everywhere,
    /// Activity: a second factor passed.
    activity_factor_passed,
    /// Activity: a wrong second-factor code.
    activity_factor_failed,
    /// Activity: an administrator's change.
    activity_admin,
    /// Activity: anything else.
    activity_other,
    /// Sign-out question: title.
    logout_title,
    /// Sign-out question: heading.
    logout_heading,
    /// Sign-out question: why it is asked.
    logout_body,
    /// Not-me page title.
    not_me_title,
    /// Not-me page heading.
    not_me_heading,
    /// Not-me page: what the button does.
    not_me_body,
    /// Not-me page button.
    not_me_button,
    /// Not-me page, done: heading.
    not_me_done_heading,
    /// Not-me page, done: what happened and what to do.
    not_me_done_body,
    /// Enrollment forced by policy.
    enroll_required,
    /// How to set up the app.
    enroll_scan,
    /// Before the key typed by hand.
    enroll_by_hand,
    /// Label of the app's first code.
    enroll_code_label,
    /// Button: turn the app on.
    enroll_button,
    /// A wrong first code from the new app.
    enroll_wrong_code,
    /// Recovery codes: title.
    recovery_title,
    /// Recovery codes: heading.
    recovery_heading,
    /// Recovery codes: what they are for.
    recovery_body,
    /// Recovery codes: the way on.
    recovery_continue,
    /// Phone confirmation: title and heading.
    phone_title,
    /// `{0}` masked phone number.
    phone_sent,
    /// Stands for the number when it is not known.
    phone_yours,
    /// Label of the texted code.
    phone_code_label,
    /// Button: confirm the phone.
    phone_button,
    /// Link back to the account page.
    phone_back,
    /// New-device mail: subject.
    new_device_subject,
    /// `{0}` site: a browser not seen before signed in.
    new_device_body,
    /// New-device mail: if it was you.
    new_device_if_you,
    /// New-device mail (text part): above the link.
    new_device_link_text,
    /// New-device mail (HTML part): above the button.
    new_device_button_text,
    /// New-device mail: the button.
    new_device_button,
    /// Account-change mail: subject.
    change_subject,
    /// `{0}` site: an authenticator app was added (and other sessions ended).
    change_totp_added,
    /// `{0}` site: the authenticator app was removed.
    change_totp_removed,
    /// `{0}` site: the recovery codes were replaced.
    change_recovery_replaced,
    /// `{0}` site: a phone was added (and other sessions ended).
    change_phone_added,
    /// `{0}` site: the phone was removed.
    change_phone_removed,
    /// `{0}` site: every session was ended.
    change_sessions_ended,
    /// `{0}` site: an administrator removed the second factors.
    change_factors_reset,
    /// Account-change mail (text part): above the link.
    change_link_text,
    /// Account-change mail (HTML part): above the button.
    change_button_text,
    /// Activity: a second factor was added or removed, or recovery codes replaced.
    activity_factor_changed,
    /// Confirm-it's-you page: title and heading.
    reverify_title,
    /// Confirm-it's-you page: why it is asked.
    reverify_body,
    /// Account page: changes need a recent second factor; before the link.
    account_reverify,
    /// Account page: the link to the confirm-it's-you page.
    account_reverify_link,
    /// Account page: button removing the phone.
    account_phone_remove_button,
}

/// English.
pub static EN: Messages = Messages {
    lang: Lang::En,
    email_label: "Email address",
    login_title: "Sign in",
    login_intro: "Type your email address. We will mail you a link that signs you in — no password needed.",
    login_button: "Email me a sign-in link",
    sent_title: "Check your email",
    sent_body: "We sent a sign-in link to {0}. Open it in this browser to finish in one click. It works once and expires in {1} minutes.",
    sent_code_label: "Or type the code from the mail",
    sent_code_button: "Sign in with the code",
    sent_nothing_there: "Nothing there? Look in your spam folder, or",
    sent_ask_again: "ask again",
    sent_replaces: "— a new link replaces the old one.",
    confirm_title: "Confirm sign-in",
    confirm_heading: "Sign in as {0}?",
    confirm_requested: "This sign-in was requested at {0} from {1} ({2}).",
    confirm_other_browser: "This is not the browser that asked for the link. Continue only if you asked for it.",
    sign_in_button: "Sign in",
    confirm_not_you: "If you did not ask to sign in, close this page: nothing happens until you press the button.",
    code_title: "Enter the code",
    code_other_browser: "This link was requested at {0} from {1} ({2}) — a different browser from this one. To finish here, type the code from the same mail.",
    code_not_you: "If you did not ask for this link, someone may be trying to get you to sign in to their account, or into yours: close this page.",
    code_from_mail_at: "Type the code from the mail we sent at {0}.",
    code_label: "Code from the mail",
    code_wrong_one_left: "That code is not right. One try left.",
    code_wrong_tries_left: "That code is not right. {0} tries left.",
    code_malformed: "A code has 8 letters and digits, like K7PM-2QXR.",
    other_browser_title: "Open the link where you asked for it",
    other_browser_heading: "Open this link in the browser where you asked for it",
    other_browser_body: "The sign-in for {0} was requested at {1} from {2}. For safety it can only be finished there: open the link in that browser, or type the code from the mail on its \"Check your email\" page.",
    link_unknown_title: "This link does not work",
    link_unknown_body: "The link is incomplete or was never issued. Check that you copied all of it, or ask for a new one.",
    link_expired_title: "This link has expired",
    link_expired_body: "Sign-in links work for a limited time. Ask for a new one below.",
    link_used_title: "This link was already used",
    link_used_body: "Each sign-in link works once. If that was not you, ask for a new link and sign in; nobody else can use this one.",
    link_superseded_title: "This link was replaced",
    link_superseded_body: "A newer link was sent, or you signed in since: only the newest link works. Use it, or ask for a new one.",
    link_dead_title: "Too many wrong codes",
    link_dead_body: "This sign-in was stopped after too many wrong codes, and its link no longer works. Ask for a new one.",
    link_new_button: "Send a new link",
    second_title: "Second step",
    second_heading: "One more step",
    second_signing_in_as: "Signing in as {0}.",
    second_totp_label: "Code from your authenticator app",
    second_verify_button: "Verify",
    second_sms_label: "Code from the text to {0}",
    second_sms_again: "Text me a new code",
    second_sms_send: "Text a code to {0}",
    second_recovery_summary: "Lost your device? Use a recovery code",
    second_recovery_label: "Recovery code",
    second_recovery_button: "Use recovery code",
    second_wrong_code: "That code is not right.",
    second_sms_sent: "We texted a code to {0}.",
    second_sms_unavailable: "Text messages are not available.",
    second_sms_paused: "Text messages are paused for now. Use your authenticator app or a recovery code, or try again later.",
    signed_out_title: "Signed out",
    signed_out_heading: "You are signed out",
    signed_out_again: "Sign in again",
    error_back: "Back to sign-in",
    error_reference: "Reference: {0} — quote it if you contact support.",
    error_400: "Bad Request",
    error_401: "Unauthorized",
    error_403: "Forbidden",
    error_404: "Not Found",
    error_410: "Gone",
    error_429: "Too Many Requests",
    error_500: "Internal Server Error",
    error_503: "Service Unavailable",
    error_sign_in_first: "Please sign in first.",
    error_not_found: "There is nothing at this address.",
    error_internal: "Something went wrong on our side. Nothing was changed.",
    error_unavailable: "The service is temporarily unavailable. Nothing was changed; please try again in a moment.",
    error_rate_limited: "Too many attempts. Please wait {0} and try again.",
    wait_one_second: "1 second",
    wait_seconds: "{0} seconds",
    wait_one_minute: "1 minute",
    wait_minutes: "{0} minutes",
    error_cross_site: "This request came from another site and was refused.",
    error_form_expired: "This form has expired. Go back, reload the page and try again.",
    error_step_ended: "This sign-in step has ended (it expired, was used, or had too many wrong codes). Please sign in again.",
    error_code_ended: "This code has expired or was used. Start again from your account page.",
    error_not_me_ended: "This link has expired or was already used. You can still sign out everywhere from your account page.",
    error_factor_not_fresh: "To change your second factors or recovery codes, first confirm it's you with one of them; changes are then open for 10 minutes.",
    error_first_factor_sign_in_again: "To set up a second factor, please sign in again first: a sign-in with a link from your mailbox in the last 10 minutes shows it's you. Then set it up from your account page.",
    error_admin_needs_token: "An administrator's second factor can be removed only with the admin API token.",
    error_factor_missing: "Your account has a second factor that cannot be checked right now, so you were not signed in. Please contact your administrator.",
    error_admin_cookie_origin: "A change by cookie must come from this site's own pages.",
    error_admin_page_needs_factor: "This page is for administrators who signed in with a second factor.",
    error_admin_api_needs_factor: "This needs an administrator who signed in with a second factor.",
    email_empty: "Please enter your email address.",
    email_too_long: "That address is too long.",
    email_forbidden_character: "That address contains characters that are not allowed.",
    email_malformed: "That does not look like an email address (name@example.com).",
    email_routing_character: "Addresses with %, ! or =?…?= before the @ are not accepted: some mail servers would deliver them elsewhere.",
    mail_subject: "Your sign-in link",
    mail_hello: "Hello,",
    mail_use_button: "Use this button to sign in to {0}:",
    mail_use_link: "Use this link to sign in to {0}:",
    mail_copy_address: "Or copy this address into your browser:",
    mail_other_device: "Opening it on another device? You will be asked for this code:",
    mail_expiry: "The link and the code work once. The link expires in {0} minutes (at {1}), and so does the code.",
    mail_requested: "This sign-in was requested at {0} from {1} ({2}).",
    mail_not_you: "If that was not you, ignore this mail: nobody can sign in without it.",
    mail_support: "Questions? Write to {0}.",
    account_title: "Your account",
    account_email: "Email",
    account_signed_in: "Signed in",
    account_signed_in_with: "{0} with {1}",
    account_session_ends: "This session ends",
    account_second_factor: "Second factor",
    account_totp: "Authenticator app:",
    account_on: "on",
    account_off: "off",
    account_recovery_left: "Recovery codes left: {0}.",
    account_regenerate_label: "New recovery codes (code from your app)",
    account_regenerate_button: "Make new recovery codes",
    account_disable_label: "Turn off (code from your app)",
    account_disable_button: "Turn off the authenticator app",
    account_totp_why: "A second factor keeps your account safe if someone gets into your mailbox.",
    enroll_title: "Set up an authenticator app",
    account_sms: "Text messages:",
    account_phone_label: "Or get codes by text message",
    account_phone_weaker: "Text messages are the weaker choice: numbers can be hijacked. An authenticator app is safer.",
    account_phone_button: "Text me a code",
    account_sessions: "Where you are signed in",
    account_device_from: "{0} from {1}",
    account_this_browser: "this browser",
    account_since: "since {0}, last seen {1}",
    account_activity: "Recent activity",
    sign_out_button: "Sign out",
    sign_out_everywhere_button: "Sign out everywhere",
    activity_signed_in: "Signed in",
    activity_signed_out: "Signed out",
    activity_signed_out_everywhere: "Signed out everywhere",
    activity_factor_passed: "Second factor passed",
    activity_factor_failed: "Wrong second-factor code",
    activity_admin: "Changed by an administrator",
    activity_other: "Sign-in activity",
    logout_title: "Sign out",
    logout_heading: "Sign out?",
    logout_body: "An app asked to sign you out of this service.",
    not_me_title: "Not you?",
    not_me_heading: "Was that sign-in not you?",
    not_me_body: "Pressing the button signs your account out on every device and voids any sign-in links still waiting. You can then sign in again with a fresh link.",
    not_me_button: "It wasn't me: sign out everywhere",
    not_me_done_heading: "You are signed out everywhere",
    not_me_done_body: "Every session of your account has ended and any sign-in link still waiting no longer works. Sign in again with a fresh link, and check the security of your mailbox: whoever signed in had access to your mail.",
    enroll_required: "Your account needs a second factor before you can sign in.",
    enroll_scan: "Scan this code with an authenticator app (such as Aegis, Google Authenticator or 1Password), then type the 6-digit code it shows.",
    enroll_by_hand: "Can't scan? Enter this key by hand:",
    enroll_code_label: "6-digit code",
    enroll_button: "Turn on",
    enroll_wrong_code: "That code is not right. Try the one your app shows now.",
    recovery_title: "Your recovery codes",
    recovery_heading: "Save your recovery codes",
    recovery_body: "If you lose your authenticator app, each of these codes signs you in once. They are shown only now: print them or keep them in a password manager.",
    recovery_continue: "I have saved them — continue",
    phone_title: "Confirm your phone",
    phone_sent: "We texted a 6-digit code to {0}. It works for 5 minutes.",
    phone_yours: "your phone",
    phone_code_label: "Code from the text",
    phone_button: "Confirm",
    phone_back: "Back to your account",
    new_device_subject: "New sign-in to your account",
    new_device_body: "Someone signed in to your account on {0} from a browser it has not seen before:",
    new_device_if_you: "If that was you, there is nothing to do.",
    new_device_link_text: "If it was not you, open this link: it signs you out everywhere and voids any sign-in links still waiting, so whoever it was is shut out. Then check your mailbox's security.",
    new_device_button_text: "If it was not you, this signs you out everywhere and voids any sign-in links still waiting:",
    new_device_button: "This wasn't me",
    change_subject: "The way you sign in has changed",
    change_totp_added: "An authenticator app was added as a second factor to your account on {0}, and every other session of the account was signed out:",
    change_totp_removed: "The authenticator app was removed from your account on {0}:",
    change_recovery_replaced: "The recovery codes of your account on {0} were replaced; the old ones no longer work:",
    change_phone_added: "A phone was added as a second factor to your account on {0}, and every other session of the account was signed out:",
    change_phone_removed: "The phone was removed from the second factors of your account on {0}:",
    change_sessions_ended: "Your account on {0} was signed out everywhere:",
    change_factors_reset: "An administrator removed every second factor and recovery code of your account on {0}:",
    change_link_text: "If it was not you, open this link: it signs you out everywhere and voids any sign-in links still waiting. Then check your mailbox's security and your second factors.",
    change_button_text: "If it was not you, this signs you out everywhere and voids any sign-in links still waiting:",
    activity_factor_changed: "Second factor changed",
    reverify_title: "Confirm it's you",
    reverify_body: "Changing your second factors or recovery codes needs a second factor used in this browser within the last 10 minutes.",
    account_reverify: "To change your second factors or recovery codes, first confirm it's you with one of them.",
    account_reverify_link: "Confirm it's you",
    account_phone_remove_button: "Remove this phone",
};

/// German.
pub static DE: Messages = Messages {
    lang: Lang::De,
    email_label: "E-Mail-Adresse",
    login_title: "Anmelden",
    login_intro: "Geben Sie Ihre E-Mail-Adresse ein. Wir schicken Ihnen einen Link, der Sie anmeldet – ganz ohne Passwort.",
    login_button: "Anmeldelink per E-Mail senden",
    sent_title: "Sehen Sie in Ihr Postfach",
    sent_body: "Wir haben einen Anmeldelink an {0} geschickt. Öffnen Sie ihn in diesem Browser, um sich mit einem Klick anzumelden. Er funktioniert einmal und läuft in {1} Minuten ab.",
    sent_code_label: "Oder geben Sie den Code aus der E-Mail ein",
    sent_code_button: "Mit dem Code anmelden",
    sent_nothing_there: "Nichts angekommen? Sehen Sie im Spam-Ordner nach, oder",
    sent_ask_again: "fordern Sie einen neuen an",
    sent_replaces: "– ein neuer Link ersetzt den alten.",
    confirm_title: "Anmeldung bestätigen",
    confirm_heading: "Als {0} anmelden?",
    confirm_requested: "Diese Anmeldung wurde am {0} von {1} ({2}) angefordert.",
    confirm_other_browser: "Dies ist nicht der Browser, der den Link angefordert hat. Fahren Sie nur fort, wenn Sie ihn angefordert haben.",
    sign_in_button: "Anmelden",
    confirm_not_you: "Wenn Sie sich nicht anmelden wollten, schließen Sie diese Seite: Ohne den Knopf geschieht nichts.",
    code_title: "Code eingeben",
    code_other_browser: "Dieser Link wurde am {0} von {1} ({2}) angefordert – in einem anderen Browser als diesem. Um die Anmeldung hier abzuschließen, geben Sie den Code aus derselben E-Mail ein.",
    code_not_you: "Wenn Sie diesen Link nicht angefordert haben, versucht vielleicht jemand, Sie in sein Konto oder in Ihres zu locken: Schließen Sie diese Seite.",
    code_from_mail_at: "Geben Sie den Code aus der E-Mail ein, die wir am {0} geschickt haben.",
    code_label: "Code aus der E-Mail",
    code_wrong_one_left: "Dieser Code stimmt nicht. Ein Versuch bleibt.",
    code_wrong_tries_left: "Dieser Code stimmt nicht. Noch {0} Versuche.",
    code_malformed: "Ein Code hat 8 Buchstaben und Ziffern, etwa K7PM-2QXR.",
    other_browser_title: "Öffnen Sie den Link dort, wo Sie ihn angefordert haben",
    other_browser_heading: "Öffnen Sie diesen Link in dem Browser, in dem Sie ihn angefordert haben",
    other_browser_body: "Die Anmeldung für {0} wurde am {1} von {2} angefordert. Aus Sicherheitsgründen kann sie nur dort abgeschlossen werden: Öffnen Sie den Link in jenem Browser, oder geben Sie den Code aus der E-Mail auf dessen Seite „Sehen Sie in Ihr Postfach“ ein.",
    link_unknown_title: "Dieser Link funktioniert nicht",
    link_unknown_body: "Der Link ist unvollständig oder wurde nie ausgestellt. Prüfen Sie, ob Sie ihn ganz kopiert haben, oder fordern Sie einen neuen an.",
    link_expired_title: "Dieser Link ist abgelaufen",
    link_expired_body: "Anmeldelinks gelten nur kurze Zeit. Fordern Sie unten einen neuen an.",
    link_used_title: "Dieser Link wurde schon benutzt",
    link_used_body: "Jeder Anmeldelink funktioniert einmal. Wenn Sie das nicht waren, fordern Sie einen neuen an und melden Sie sich an; niemand sonst kann diesen Link benutzen.",
    link_superseded_title: "Dieser Link wurde ersetzt",
    link_superseded_body: "Ein neuerer Link wurde geschickt, oder Sie haben sich inzwischen angemeldet: Nur der neueste Link funktioniert. Benutzen Sie ihn, oder fordern Sie einen neuen an.",
    link_dead_title: "Zu viele falsche Codes",
    link_dead_body: "Diese Anmeldung wurde nach zu vielen falschen Codes gestoppt, und ihr Link funktioniert nicht mehr. Fordern Sie einen neuen an.",
    link_new_button: "Neuen Link senden",
    second_title: "Zweiter Schritt",
    second_heading: "Noch ein Schritt",
    second_signing_in_as: "Anmeldung als {0}.",
    second_totp_label: "Code aus Ihrer Authenticator-App",
    second_verify_button: "Bestätigen",
    second_sms_label: "Code aus der SMS an {0}",
    second_sms_again: "Neuen Code per SMS senden",
    second_sms_send: "Code per SMS an {0} senden",
    second_recovery_summary: "Gerät verloren? Benutzen Sie einen Wiederherstellungscode",
    second_recovery_label: "Wiederherstellungscode",
    second_recovery_button: "Wiederherstellungscode benutzen",
    second_wrong_code: "Dieser Code stimmt nicht.",
    second_sms_sent: "Wir haben einen Code an {0} geschickt.",
    second_sms_unavailable: "SMS sind nicht verfügbar.",
    second_sms_paused: "Der SMS-Versand ist vorübergehend angehalten. Verwenden Sie Ihre Authenticator-App oder einen Wiederherstellungscode, oder versuchen Sie es später erneut.",
    signed_out_title: "Abgemeldet",
    signed_out_heading: "Sie sind abgemeldet",
    signed_out_again: "Wieder anmelden",
    error_back: "Zurück zur Anmeldung",
    error_reference: "Referenz: {0} – geben Sie sie an, wenn Sie den Support kontaktieren.",
    error_400: "Ungültige Anfrage",
    error_401: "Nicht angemeldet",
    error_403: "Nicht erlaubt",
    error_404: "Nicht gefunden",
    error_410: "Nicht mehr gültig",
    error_429: "Zu viele Versuche",
    error_500: "Interner Fehler",
    error_503: "Dienst nicht verfügbar",
    error_sign_in_first: "Bitte melden Sie sich zuerst an.",
    error_not_found: "Unter dieser Adresse gibt es nichts.",
    error_internal: "Bei uns ist etwas schiefgegangen. Es wurde nichts geändert.",
    error_unavailable: "Der Dienst ist vorübergehend nicht erreichbar. Es wurde nichts geändert; bitte versuchen Sie es gleich noch einmal.",
    error_rate_limited: "Zu viele Versuche. Bitte warten Sie {0} und versuchen Sie es dann erneut.",
    wait_one_second: "1 Sekunde",
    wait_seconds: "{0} Sekunden",
    wait_one_minute: "1 Minute",
    wait_minutes: "{0} Minuten",
    error_cross_site: "Diese Anfrage kam von einer anderen Website und wurde abgelehnt.",
    error_form_expired: "Dieses Formular ist abgelaufen. Gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es noch einmal.",
    error_step_ended: "Dieser Anmeldeschritt ist beendet (abgelaufen, benutzt oder zu viele falsche Codes). Bitte melden Sie sich erneut an.",
    error_code_ended: "Dieser Code ist abgelaufen oder wurde benutzt. Beginnen Sie noch einmal auf Ihrer Kontoseite.",
    error_not_me_ended: "Dieser Link ist abgelaufen oder wurde schon benutzt. Auf Ihrer Kontoseite können Sie sich trotzdem überall abmelden.",
    error_factor_not_fresh: "Um Ihre zweiten Faktoren oder Wiederherstellungscodes zu ändern, bestätigen Sie zuerst mit einem davon, dass Sie es sind; Änderungen sind danach 10 Minuten lang möglich.",
    error_first_factor_sign_in_again: "Um einen zweiten Faktor einzurichten, melden Sie sich bitte zuerst erneut an: Eine Anmeldung mit einem Link aus Ihrem Postfach in den letzten 10 Minuten zeigt, dass Sie es sind. Richten Sie ihn danach auf Ihrer Kontoseite ein.",
    error_admin_needs_token: "Der zweite Faktor eines Administrators kann nur mit dem Admin-API-Token entfernt werden.",
    error_factor_missing: "Ihr Konto hat einen zweiten Faktor, der gerade nicht geprüft werden kann; Sie wurden deshalb nicht angemeldet. Bitte wenden Sie sich an Ihre Administration.",
    error_admin_cookie_origin: "Eine Änderung per Cookie muss von den Seiten dieser Website kommen.",
    error_admin_page_needs_factor: "Diese Seite ist für Administratoren, die sich mit einem zweiten Faktor angemeldet haben.",
    error_admin_api_needs_factor: "Dazu braucht es einen Administrator, der sich mit einem zweiten Faktor angemeldet hat.",
    email_empty: "Bitte geben Sie Ihre E-Mail-Adresse ein.",
    email_too_long: "Diese Adresse ist zu lang.",
    email_forbidden_character: "Diese Adresse enthält unzulässige Zeichen.",
    email_malformed: "Das sieht nicht wie eine E-Mail-Adresse aus (name@example.com).",
    email_routing_character: "Adressen mit %, ! oder =?…?= vor dem @ werden nicht angenommen: manche Mailserver würden sie anderswohin zustellen.",
    mail_subject: "Ihr Anmeldelink",
    mail_hello: "Hallo,",
    mail_use_button: "Mit diesem Knopf melden Sie sich bei {0} an:",
    mail_use_link: "Mit diesem Link melden Sie sich bei {0} an:",
    mail_copy_address: "Oder kopieren Sie diese Adresse in Ihren Browser:",
    mail_other_device: "Öffnen Sie ihn auf einem anderen Gerät? Dann werden Sie nach diesem Code gefragt:",
    mail_expiry: "Link und Code funktionieren einmal. Der Link läuft in {0} Minuten ab (um {1}), der Code ebenso.",
    mail_requested: "Diese Anmeldung wurde am {0} von {1} ({2}) angefordert.",
    mail_not_you: "Wenn Sie das nicht waren, ignorieren Sie diese E-Mail: Ohne sie kann sich niemand anmelden.",
    mail_support: "Fragen? Schreiben Sie an {0}.",
    account_title: "Ihr Konto",
    account_email: "E-Mail",
    account_signed_in: "Angemeldet",
    account_signed_in_with: "{0} mit {1}",
    account_session_ends: "Diese Sitzung endet",
    account_second_factor: "Zweiter Faktor",
    account_totp: "Authenticator-App:",
    account_on: "an",
    account_off: "aus",
    account_recovery_left: "Verbleibende Wiederherstellungscodes: {0}.",
    account_regenerate_label: "Neue Wiederherstellungscodes (Code aus Ihrer App)",
    account_regenerate_button: "Neue Wiederherstellungscodes erstellen",
    account_disable_label: "Ausschalten (Code aus Ihrer App)",
    account_disable_button: "Authenticator-App ausschalten",
    account_totp_why: "Ein zweiter Faktor schützt Ihr Konto, falls jemand in Ihr Postfach gelangt.",
    enroll_title: "Authenticator-App einrichten",
    account_sms: "SMS:",
    account_phone_label: "Oder Codes per SMS erhalten",
    account_phone_weaker: "SMS sind die schwächere Wahl: Telefonnummern können gekapert werden. Eine Authenticator-App ist sicherer.",
    account_phone_button: "Code per SMS senden",
    account_sessions: "Wo Sie angemeldet sind",
    account_device_from: "{0} von {1}",
    account_this_browser: "dieser Browser",
    account_since: "seit {0}, zuletzt aktiv {1}",
    account_activity: "Letzte Aktivitäten",
    sign_out_button: "Abmelden",
    sign_out_everywhere_button: "Überall abmelden",
    activity_signed_in: "Angemeldet",
    activity_signed_out: "Abgemeldet",
    activity_signed_out_everywhere: "Überall abgemeldet",
    activity_factor_passed: "Zweiter Faktor bestätigt",
    activity_factor_failed: "Falscher Code für den zweiten Faktor",
    activity_admin: "Von einem Administrator geändert",
    activity_other: "Anmeldeaktivität",
    logout_title: "Abmeldung",
    logout_heading: "Abmelden?",
    logout_body: "Eine App möchte Sie von diesem Dienst abmelden.",
    not_me_title: "Nicht Sie?",
    not_me_heading: "Waren Sie das nicht?",
    not_me_body: "Der Knopf meldet Ihr Konto auf allen Geräten ab und macht alle noch wartenden Anmeldelinks ungültig. Danach können Sie sich mit einem neuen Link wieder anmelden.",
    not_me_button: "Das war ich nicht: überall abmelden",
    not_me_done_heading: "Sie sind überall abgemeldet",
    not_me_done_body: "Alle Sitzungen Ihres Kontos sind beendet, und kein noch wartender Anmeldelink funktioniert mehr. Melden Sie sich mit einem neuen Link wieder an und prüfen Sie die Sicherheit Ihres Postfachs: Wer sich angemeldet hat, hatte Zugriff auf Ihre E-Mails.",
    enroll_required: "Ihr Konto braucht einen zweiten Faktor, bevor Sie sich anmelden können.",
    enroll_scan: "Scannen Sie diesen Code mit einer Authenticator-App (etwa Aegis, Google Authenticator oder 1Password) und geben Sie dann den 6-stelligen Code ein, den sie anzeigt.",
    enroll_by_hand: "Scannen klappt nicht? Geben Sie diesen Schlüssel von Hand ein:",
    enroll_code_label: "6-stelliger Code",
    enroll_button: "Einschalten",
    enroll_wrong_code: "Dieser Code stimmt nicht. Versuchen Sie den, den Ihre App jetzt anzeigt.",
    recovery_title: "Ihre Wiederherstellungscodes",
    recovery_heading: "Speichern Sie Ihre Wiederherstellungscodes",
    recovery_body: "Falls Sie Ihre Authenticator-App verlieren, meldet Sie jeder dieser Codes einmal an. Sie werden nur jetzt angezeigt: Drucken Sie sie aus oder bewahren Sie sie in einem Passwortmanager auf.",
    recovery_continue: "Ich habe sie gespeichert – weiter",
    phone_title: "Telefon bestätigen",
    phone_sent: "Wir haben einen 6-stelligen Code per SMS an {0} geschickt. Er gilt 5 Minuten.",
    phone_yours: "Ihr Telefon",
    phone_code_label: "Code aus der SMS",
    phone_button: "Bestätigen",
    phone_back: "Zurück zu Ihrem Konto",
    new_device_subject: "Neue Anmeldung bei Ihrem Konto",
    new_device_body: "Jemand hat sich bei {0} mit einem Browser bei Ihrem Konto angemeldet, der dort noch nie verwendet wurde:",
    new_device_if_you: "Wenn Sie das waren, ist nichts zu tun.",
    new_device_link_text: "Wenn Sie es nicht waren, öffnen Sie diesen Link: Er meldet Sie überall ab und macht alle noch wartenden Anmeldelinks ungültig, sodass die Person ausgesperrt ist. Prüfen Sie danach die Sicherheit Ihres Postfachs.",
    new_device_button_text: "Wenn Sie es nicht waren, meldet Sie dieser Knopf überall ab und macht alle noch wartenden Anmeldelinks ungültig:",
    new_device_button: "Das war ich nicht",
    change_subject: "Ihre Anmeldung wurde geändert",
    change_totp_added: "Bei Ihrem Konto auf {0} wurde eine Authenticator-App als zweiter Faktor hinzugefügt, und alle anderen Sitzungen des Kontos wurden abgemeldet:",
    change_totp_removed: "Die Authenticator-App wurde von Ihrem Konto auf {0} entfernt:",
    change_recovery_replaced: "Die Wiederherstellungscodes Ihres Kontos auf {0} wurden ersetzt; die alten gelten nicht mehr:",
    change_phone_added: "Bei Ihrem Konto auf {0} wurde ein Telefon als zweiter Faktor hinzugefügt, und alle anderen Sitzungen des Kontos wurden abgemeldet:",
    change_phone_removed: "Das Telefon wurde aus den zweiten Faktoren Ihres Kontos auf {0} entfernt:",
    change_sessions_ended: "Ihr Konto auf {0} wurde überall abgemeldet:",
    change_factors_reset: "Eine Administratorin oder ein Administrator hat alle zweiten Faktoren und Wiederherstellungscodes Ihres Kontos auf {0} entfernt:",
    change_link_text: "Wenn Sie es nicht waren, öffnen Sie diesen Link: Er meldet Sie überall ab und macht alle noch wartenden Anmeldelinks ungültig. Prüfen Sie danach die Sicherheit Ihres Postfachs und Ihre zweiten Faktoren.",
    change_button_text: "Wenn Sie es nicht waren, meldet Sie dieser Knopf überall ab und macht alle noch wartenden Anmeldelinks ungültig:",
    activity_factor_changed: "Zweiter Faktor geändert",
    reverify_title: "Bestätigen Sie, dass Sie es sind",
    reverify_body: "Um Ihre zweiten Faktoren oder Wiederherstellungscodes zu ändern, muss in diesem Browser in den letzten 10 Minuten ein zweiter Faktor benutzt worden sein.",
    account_reverify: "Um Ihre zweiten Faktoren oder Wiederherstellungscodes zu ändern, bestätigen Sie zuerst mit einem davon, dass Sie es sind.",
    account_reverify_link: "Bestätigen, dass Sie es sind",
    account_phone_remove_button: "Dieses Telefon entfernen",
};

impl Messages {
    /// `text` with `{0}` replaced by `a`. The result is plain text (templates escape it).
    pub fn fill(&self, text: &str, a: impl Display) -> String {
        substitute(text, &[a.to_string()], false)
    }

    /// `text` with `{0}` and `{1}` replaced.
    pub fn fill2(&self, text: &str, a: impl Display, b: impl Display) -> String {
        substitute(text, &[a.to_string(), b.to_string()], false)
    }

    /// `text` with `{0}`, `{1}` and `{2}` replaced.
    pub fn fill3(&self, text: &str, a: impl Display, b: impl Display, c: impl Display) -> String {
        substitute(text, &[a.to_string(), b.to_string(), c.to_string()], false)
    }

    /// HTML: `text` escaped, with `{0}` replaced by `a` escaped and in `<strong>`. For `|safe`.
    pub fn strong(&self, text: &str, a: impl Display) -> String {
        substitute(text, &[a.to_string()], true)
    }

    /// HTML: like [`Messages::strong`], with `{0}` and `{1}` in `<strong>`.
    pub fn strong2(&self, text: &str, a: impl Display, b: impl Display) -> String {
        substitute(text, &[a.to_string(), b.to_string()], true)
    }

    /// "3 minutes", "1 minute", "20 seconds": a wait, rounded up.
    pub fn wait(&self, wait: std::time::Duration) -> String {
        let secs = wait.as_secs().max(1);
        match secs {
            1 => self.wait_one_second.to_owned(),
            2..=59 => self.fill(self.wait_seconds, secs),
            60..=119 => self.wait_one_minute.to_owned(),
            _ => self.fill(self.wait_minutes, secs.div_ceil(60)),
        }
    }

    /// The title of an error page with this status.
    pub fn status_title(&self, status: u16) -> &'static str {
        match status {
            400 => self.error_400,
            401 => self.error_401,
            403 => self.error_403,
            404 => self.error_404,
            410 => self.error_410,
            429 => self.error_429,
            503 => self.error_503,
            _ => self.error_500,
        }
    }
}

/// A message key: a field of [`Messages`], chosen without knowing the language yet.
pub type Text = fn(&Messages) -> &'static str;

/// Replaces `{i}` by `args[i]`; with `html`, escapes the text and wraps arguments in `<strong>`.
fn substitute(text: &str, args: &[String], html: bool) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let (before, from) = rest.split_at(start);
        push(&mut out, before, html);
        let index = from[1..].find('}').and_then(|end| from[1..=end].parse::<usize>().ok().map(|i| (i, end + 2)));
        match index.and_then(|(i, len)| args.get(i).map(|a| (a, len))) {
            Some((arg, len)) => {
                if html {
                    out.push_str("<strong>");
                    push(&mut out, arg, true);
                    out.push_str("</strong>");
                } else {
                    out.push_str(arg);
                }
                rest = &from[len..];
            }
            None => {
                push(&mut out, "{", html);
                rest = &from[1..];
            }
        }
    }
    push(&mut out, rest, html);
    out
}

fn push(out: &mut String, text: &str, html: bool) {
    if !html {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut found: Vec<&str> = ["{0}", "{1}", "{2}"].into_iter().filter(|p| text.contains(p)).collect();
        found.sort_unstable();
        found
    }

    #[test]
    fn every_key_has_a_translation_in_every_language_with_the_same_placeholders() {
        let english = EN.entries();
        for lang in Lang::ALL {
            let messages = lang.messages();
            assert_eq!(messages.lang, lang);
            let entries = messages.entries();
            assert_eq!(entries.len(), english.len());
            for ((key, text), (_, en)) in entries.iter().zip(&english) {
                assert!(!text.trim().is_empty(), "{lang:?}: {key} is empty");
                assert_eq!(placeholders(text), placeholders(en), "{lang:?}: {key} placeholders differ from English");
            }
        }
    }

    #[test]
    fn german_is_not_a_copy_of_english() {
        let same: Vec<_> = EN
            .entries()
            .into_iter()
            .zip(DE.entries())
            .filter(|((_, en), (_, de))| en == de)
            .map(|((key, _), _)| key)
            .collect();
        assert!(same.is_empty(), "untranslated: {same:?}");
    }

    #[test]
    fn accept_language_picks_the_highest_q_we_speak() {
        assert_eq!(Lang::negotiate("de"), Lang::De);
        assert_eq!(Lang::negotiate("de-AT,de;q=0.9,en;q=0.8"), Lang::De);
        assert_eq!(Lang::negotiate("en-GB,en;q=0.9,de;q=0.8"), Lang::En);
        assert_eq!(Lang::negotiate("fr-CH, fr;q=0.9, de;q=0.7, *;q=0.5"), Lang::De);
        assert_eq!(Lang::negotiate("en;q=0.5, DE;q=0.6"), Lang::De);
        assert_eq!(Lang::negotiate("de;q=0, en;q=0.1"), Lang::En);
    }

    #[test]
    fn anything_else_is_english() {
        for header in ["", "fr", "*", "de;q=0", "de;q=banana", "xx-YY", ",,;;", "de;q=1.5"] {
            assert_eq!(Lang::negotiate(header), Lang::En, "{header:?}");
        }
    }

    #[test]
    fn placeholders_are_filled_and_html_is_escaped() {
        assert_eq!(EN.fill2("a {1} b {0}", "x", 2), "a 2 b x");
        assert_eq!(EN.fill("{3} {x} {0", "y"), "{3} {x} {0");
        assert_eq!(EN.strong("<to> {0}", "a&b"), "&lt;to&gt; <strong>a&amp;b</strong>");
    }

    #[test]
    fn waits_read_in_minutes_rounded_up() {
        use std::time::Duration;
        assert_eq!(EN.wait(Duration::from_secs(0)), "1 second");
        assert_eq!(EN.wait(Duration::from_secs(45)), "45 seconds");
        assert_eq!(EN.wait(Duration::from_secs(90)), "1 minute");
        assert_eq!(EN.wait(Duration::from_secs(121)), "3 minutes");
        assert_eq!(DE.wait(Duration::from_secs(900)), "15 Minuten");
    }
}
