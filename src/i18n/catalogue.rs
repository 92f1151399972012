//! The message keys: one field of [`Messages`] per sentence, each with what it is for.

use super::{Lang, Plural};

/// Declares [`Messages`] with one [`Plural`] field per count-bearing key and one
/// `&'static str` field per other key, and the lists of its entries.
macro_rules! catalogue {
    (
        plurals { $($(#[doc = $pdoc:literal])+ $plural:ident,)+ }
        $($(#[doc = $doc:literal])+ $key:ident,)+
    ) => {
        /// One language's messages. Placeholders `{0}`, `{1}`, `{2}` are filled by
        /// [`Messages::fill`] and friends; a [`Plural`] is first narrowed to the form that
        /// agrees with its number by [`Messages::count`].
        #[derive(Debug)]
        pub struct Messages {
            /// The language these messages are in.
            pub lang: Lang,
            $($(#[doc = $pdoc])+ pub $plural: Plural,)+
            $($(#[doc = $doc])+ pub $key: &'static str,)+
        }

        impl Messages {
            /// Every `(key, message)` that is not a plural, for tests and tooling.
            pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($key), self.$key),)+]
            }

            /// Every `(key, forms)` that agrees with a number.
            pub fn plurals(&self) -> Vec<(&'static str, Plural)> {
                vec![$((stringify!($plural), self.$plural),)+]
            }
        }
    };
}

catalogue! {
    plurals {
        /// `{0}` address, `{1}` minutes the link works (the form agrees with `{1}`).
        sent_body,
        /// Wrong code; `{0}` tries left.
        code_wrong_tries_left,
        /// A wait of `{0}` seconds.
        wait_seconds,
        /// A wait of `{0}` minutes.
        wait_minutes,
        /// `{0}` minutes the link works, `{1}` time it expires (the form agrees with `{0}`).
        mail_expiry,
        /// `{0}` recovery codes left.
        account_recovery_left,
        /// Admin user page: how many passkeys the user has, `{0}` the count.
        admin_factor_passkeys,
        /// Admin user page: passkeys removed, `{0}` the count.
        admin_passkeys_removed,
    }
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
    /// `{0}` when, `{1}` IP, `{2}` browser.
    mail_requested,
    /// What to do if it wasn't you.
    mail_not_you,
    /// `{0}` support address.
    mail_support,
    /// Sign-in page of an app's flow: title and heading; `{0}` the app's name.
    app_login_title,
    /// Pages of an app's flow: under the app's logo; `{0}` the app's name (a link to its home page).
    app_signing_in_to,
    /// Pages of an app's flow: the link to the app's privacy policy; `{0}` the app's name.
    app_privacy_policy,
    /// Sign-in mail of an app's flow: subject; `{0}` the app's name.
    app_mail_subject,
    /// Sign-in mail of an app's flow, HTML: before the button; `{0}` the app, `{1}` this service's host.
    app_mail_use_button,
    /// Sign-in mail of an app's flow, text: before the link; `{0}` the app, `{1}` this service's host.
    app_mail_use_link,
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
    /// Sign-out question from an app that is returned to afterwards: `{0}` its name.
    logout_app_body,
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
    /// `{0}` site: an administrator blocked the account (and ended every session).
    change_blocked,
    /// `{0}` site: an administrator ended every session.
    change_sessions_ended_by_admin,
    /// Account-change mail of an administrator's change, in place of the browser, IP and
    /// "this wasn't me" link.
    change_by_admin,
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
    /// Waiting page (policy `approve`): before the number.
    waiting_number_label,
    /// Waiting page (policy `approve`): it finishes by itself.
    waiting_by_itself,
    /// Waiting page (policy `approve`): the link to the code form.
    waiting_type_code,
    /// Waiting page: `{0}` the webmail's name ("Gmail").
    open_webmail,
    /// Approve page (another device, policy `approve`): title and heading.
    approve_title,
    /// Approve page: `{0}` browser and system, `{1}` IP, `{2}` when.
    approve_question,
    /// Approve page: label of the number field.
    approve_number_label,
    /// Approve page: the button.
    approve_button,
    /// Approve page: if you did not ask.
    approve_not_you,
    /// Approve page: what was typed is not a two-digit number.
    approve_malformed,
    /// Approve page: before the code form that signs in on this device.
    approve_code_instead,
    /// Approved page: title and heading.
    approved_title,
    /// Approved page: `{0}` the browser that asked.
    approved_body,
    /// A wrong number was typed: title.
    approve_wrong_title,
    /// A wrong number was typed: what happened.
    approve_wrong_body,
    /// Waiting page after a wrong number: title.
    approve_stopped_title,
    /// Waiting page after a wrong number: what happened.
    approve_stopped_body,
    /// Activity: an app's spent refresh token came back, so its access was revoked.
    activity_refresh_token_reused,
    /// Account page: the button that signs out the browser showing the page.
    account_sign_out_this_browser,
    /// Account page: the accessible name of the button that ends another browser's session;
    /// `{0}` that browser and where it is (`account_device_from`). Holds the visible `sign_out_button`.
    account_sign_out_device,
    /// Account page: heading of the export and deletion section.
    account_data_heading,
    /// Account page: link downloading the export.
    account_export_link,
    /// Account page: link to the deletion page.
    account_delete_link,
    /// Deletion page: title and heading.
    delete_title,
    /// Deletion page: `{0}` the address. What goes.
    delete_body,
    /// Deletion page: label of the field where the address is typed.
    delete_confirm_label,
    /// Deletion page: the button.
    delete_button,
    /// Deletion page: the typed address is not the account's.
    delete_wrong_address,
    /// After deletion: title and heading.
    deleted_title,
    /// After deletion: what happened.
    deleted_body,
    /// Goodbye mail: subject.
    goodbye_subject,
    /// Goodbye mail: `{0}` the site. The owner deleted it.
    goodbye_by_you,
    /// Goodbye mail: `{0}` the site. An administrator deleted it.
    goodbye_by_admin,
    /// Goodbye mail: what went and what next.
    goodbye_what,
    /// Activity: the account's data was exported.
    activity_account_exported,
    /// Deletion page: a second factor must be used first.
    delete_needs_factor,
    /// Deletion page: the account has no second factor and the sign-in is older than 10 minutes.
    delete_needs_sign_in,
    /// Refusal: an administrator's account is deleted only with the API token.
    error_admin_delete_needs_token,
    /// Name of the language picker in every page's footer.
    language_picker,
    /// The SMS with a second-factor code: `{0}` code, `{1}` site (the origin-bound line follows).
    sms_code,
    /// A sign-out request with a return address but neither hint nor app.
    logout_unverifiable,
    /// A sign-out request whose app is not the one its hint names.
    logout_wrong_app,
    /// A sign-out request returning to an address its app did not register.
    logout_unregistered_return,
    /// Ending a session the account does not have.
    account_no_such_session,
    /// Setting up an authenticator app while the policy turns them off.
    account_totp_turned_off,
    /// How a session signed in: with the mailed link or code.
    method_email,
    /// How a session signed in: with an authenticator or recovery code.
    method_otp,
    /// How a session signed in: with a texted code.
    method_sms,
    /// Account change mail: a passkey was added; `{0}` the site.
    change_passkey_added,
    /// Account change mail: a passkey was removed; `{0}` the site.
    change_passkey_removed,
    /// Account page: the passkeys heading.
    account_passkeys,
    /// Account page: no passkey yet.
    account_passkeys_none,
    /// Account page: `{0}` when a passkey was added, `{1}` when last used.
    account_passkey_added,
    /// Account page: a passkey not used yet.
    account_passkey_never,
    /// Account page: the new passkey's name field.
    account_passkey_name_label,
    /// Account page: add a passkey.
    account_passkey_add_button,
    /// Account page: remove a passkey.
    account_passkey_remove_button,
    /// Account page and second step: passkeys need JavaScript.
    passkey_needs_script,
    /// Second step: use a passkey.
    second_passkey_button,
    // Undeliverable mail and the suppression list
    /// Waiting page: the sign-in mail could not be delivered (heading).
    undeliverable_title,
    /// Waiting page: `{0}` the address the sign-in mail could not be delivered to.
    undeliverable_body,
    /// Waiting page: what to do when the address is right after all.
    undeliverable_hint,
    /// Admin pages: the mail delivery section and page title.
    admin_suppression_heading,
    /// Admin pages: `{0}` the reason (bounce, complaint, smtp_5xx), `{1}` who reported it, `{2}` until when.
    admin_suppressed,
    /// Admin pages: the address is not on the suppression list.
    admin_not_suppressed,
    /// Admin pages: take the address off the suppression list.
    admin_suppression_clear,
    /// Admin pages: the address was taken off the suppression list.
    admin_suppression_cleared,
    /// Admin dashboard: look up an address's mail delivery.
    admin_suppression_lookup,
    // Change of address
    /// Mail of a change of address: before the code.
    email_change_mail_code,
    /// Mail to the new address: subject.
    email_change_verify_subject,
    /// Mail to the new address: `{0}` the site, `{1}` the old address (masked).
    email_change_verify_body,
    /// Mail to the new address: the link's button.
    email_change_verify_button,
    /// Mail to the new address: `{0}` when the link and code stop working.
    email_change_verify_closing,
    /// Mail to a new address that already has an account: subject.
    email_change_taken_subject,
    /// Mail to a new address that already has an account: `{0}` the site.
    email_change_taken_body,
    /// Mail to a new address that already has an account: what to do.
    email_change_taken_closing,
    /// Mail to the old address: subject.
    email_change_notice_subject,
    /// Mail to the old address: `{0}` the site, `{1}` the new address (masked).
    email_change_notice_body,
    /// Mail to the old address: the "this wasn't me" button.
    email_change_notice_button,
    /// Mail to the old address: what the button does.
    email_change_notice_closing,
    /// Mail to the old address after an administrator's change: `{0}` the site, `{1}` the new address (masked).
    email_change_admin_old_body,
    /// Mail to the new address after an administrator's change: subject.
    email_change_admin_new_subject,
    /// Mail to the new address after an administrator's change: `{0}` the site, `{1}` the old address (masked).
    email_change_admin_new_body,
    /// Mails after an administrator's change or an undone change: the closing.
    email_change_admin_closing,
    /// Mail after "this wasn't me" restored the address: subject.
    email_change_reverted_subject,
    /// Mail after "this wasn't me" restored the address: `{0}` the site, `{1}` the address.
    email_change_reverted_body,
    /// Account page: the link to change the address.
    account_change_email_link,
    /// Change of address page: title and heading.
    email_change_title,
    /// Change of address page: what happens; `{0}` the current address.
    email_change_intro,
    /// Change of address page: the new address field.
    email_change_label,
    /// Change of address page: the button.
    email_change_button,
    /// Change of address page: a second factor is needed first.
    email_change_needs_factor,
    /// Change of address page: a recent sign-in is needed first.
    email_change_needs_sign_in,
    /// Change of address page: the new address is the current one.
    email_change_same,
    /// Change of address page: the policy does not allow the address.
    email_change_not_allowed,
    /// After asking for a change of address: title.
    email_change_sent_title,
    /// After asking for a change of address: `{0}` the new address, `{1}` when the link stops working.
    email_change_sent_body,
    /// The link's page: title and heading.
    email_change_confirm_title,
    /// The link's page: `{0}` the old address (masked), `{1}` the new address.
    email_change_confirm_body,
    /// The link's page: the button.
    email_change_confirm_button,
    /// The link's page in another browser: `{0}` the new address.
    email_change_code_body,
    /// The link's page in another browser, when only the asking one may finish.
    email_change_denied,
    /// After the change: title.
    email_change_done_title,
    /// After the change: `{0}` the new address.
    email_change_done_body,
    /// The link cannot be used (expired, used, replaced, unknown).
    email_change_link_problem,
    /// The new address got an account meanwhile: nothing changed.
    email_change_taken_page,
    /// "This wasn't me" page for a change of address: title.
    email_revert_title,
    /// "This wasn't me" page: `{0}` the address to restore, `{1}` the address it was changed to (masked).
    email_revert_body,
    /// "This wasn't me" page: the button.
    email_revert_button,
    /// After "this wasn't me": `{0}` the restored address.
    email_revert_done,
    /// After "this wasn't me" when the old address has another account now: `{0}` the address.
    email_revert_taken,
    /// A "this wasn't me" link for a change of address that cannot be used.
    email_revert_problem,
    /// Account activity: the address changed.
    activity_email_changed,
    /// Account activity: a change of address was asked for.
    activity_email_change_requested,
    /// An administrator's session changing an administrator's address (or to one).
    error_admin_email_needs_token,
    /// Admin user page: the address was changed.
    admin_email_changed,
    // Admin pages, admin API messages and refusals from lower layers
    /// Admin pages: the title and heading.
    admin_title,
    /// Admin user page: the link back to the admin page.
    admin_back,
    /// Admin page: the user lookup heading.
    admin_find_user,
    /// Admin page: the user lookup button.
    admin_look_up,
    /// Admin page: the policy heading.
    admin_policy_heading,
    /// Admin page: `{0}` the policy's version.
    admin_policy_version,
    /// Admin page: the link lifetime field.
    admin_link_ttl_label,
    /// Admin page: the session lifetime field.
    admin_session_ttl_label,
    /// Admin pages: the second factor field and row.
    admin_second_factor_label,
    /// Admin page: second factor `off`.
    admin_second_factor_off,
    /// Admin page: second factor `optional`.
    admin_second_factor_optional,
    /// Admin page: second factor `required`.
    admin_second_factor_required,
    /// Admin page: authenticator apps allowed.
    admin_totp_allowed,
    /// Admin page: text messages allowed.
    admin_sms_allowed,
    /// Admin page: passkeys allowed.
    admin_passkey_allowed,
    /// Admin page: the cross-device field.
    admin_cross_device_label,
    /// Admin page: cross-device `code`.
    admin_cross_device_code,
    /// Admin page: cross-device `click`.
    admin_cross_device_click,
    /// Admin page: cross-device `deny`.
    admin_cross_device_deny,
    /// Admin page: cross-device `approve`.
    admin_cross_device_approve,
    /// Admin page: a new link replaces older ones.
    admin_supersede,
    /// Admin page: mail about new browsers.
    admin_new_device_notice,
    /// Admin page: the signup list field.
    admin_signup_allow_label,
    /// Admin page: the policy form's button.
    admin_save_policy,
    /// Admin page: `{0}` and `{1}` the admin API paths for what the form lacks.
    admin_api_hint,
    /// Admin page: the outbox heading.
    admin_outbox_heading,
    /// Admin page: `{0}` mails ready to send.
    admin_outbox_ready,
    /// Admin page: `{0}` mails being sent.
    admin_outbox_in_flight,
    /// Admin page: `{0}` mails waiting to retry.
    admin_outbox_scheduled,
    /// Admin page: `{0}` mails given up on.
    admin_outbox_dead,
    /// Admin page: a dead letter: `{0}` its kind, `{1}` the masked recipient, `{2}` why.
    admin_dead_letter,
    /// Admin page: before the retry route of a dead letter; `{0}` its id.
    admin_dead_letter_retry,
    /// Admin page: the recent events heading.
    admin_recent_events,
    /// Admin page: an event's `{0}` browser and `{1}` IP.
    admin_event_from,
    /// Admin user page: the user id row.
    admin_user_id,
    /// Admin user page: when the account was made.
    admin_user_since,
    /// Admin user page: the blocked row.
    admin_user_blocked,
    /// Admin user page: yes.
    admin_yes,
    /// Admin user page: no.
    admin_no,
    /// Admin user page: how many live sessions.
    admin_user_sessions,
    /// Admin user page: no second factor.
    admin_factor_none,
    /// Admin user page: an authenticator app.
    admin_factor_totp,
    /// Admin user page: text messages to the masked phone `{0}`.
    admin_factor_sms,
    /// Admin user page: end every session.
    admin_action_revoke,
    /// Admin user page: remove the second factor.
    admin_action_reset,
    /// Admin user page: block.
    admin_action_block,
    /// Admin user page: unblock.
    admin_action_unblock,
    /// Admin user page: delete the account.
    admin_action_delete,
    /// Admin user page: `{0}` sessions were ended.
    admin_sessions_ended,
    /// Admin user page: the second factor was removed.
    admin_factor_removed,
    /// Admin user page: the account was blocked.
    admin_blocked_notice,
    /// Admin user page: the account was unblocked.
    admin_unblocked_notice,
    /// Admin page: `{0}` a field's label, `{1}` what was typed.
    admin_not_whole_number,
    /// Policy check: the link lifetime is out of bounds.
    policy_link_ttl_range,
    /// Policy check: the session lifetime is out of bounds.
    policy_session_ttl_range,
    /// Policy check: neither totp nor sms is allowed.
    policy_methods_none,
    /// Policy check: a required second factor without totp.
    policy_required_needs_totp,
    /// Policy check: `{0}` a limited action with a bad limit.
    policy_rate_limit,
    /// Policy check: `{0}` an entry of the signup list that is neither an address nor a domain.
    policy_signup_entry,
    /// Admin API: a policy field left out.
    policy_field_missing,
    /// Admin API: the body was not sent as JSON.
    api_send_json,
    /// Admin API: the policy changed since the client read it.
    api_policy_changed,
    /// A form body over the size limit.
    form_too_large,
    /// A form body of another content type.
    form_not_web_form,
    /// A form body that cannot be read; `{0}` the parser's words, naming the field.
    form_unreadable_detail,
    /// A form body that cannot be read.
    form_unreadable,
    /// A query string that cannot be read; `{0}` the parser's words, naming the parameter.
    query_malformed_detail,
    /// A query string that cannot be read.
    query_malformed,
    /// A JSON body that cannot be read; `{0}` the parser's words.
    json_unreadable_detail,
    /// JSON sign-in: no client with this `client_id`.
    native_unknown_client,
    /// JSON sign-in: the client is not a native app.
    native_not_native,
    /// JSON sign-in: no `code_challenge`.
    native_pkce_required,
    /// JSON sign-in: a `code_challenge_method` other than S256.
    native_s256_only,
    /// JSON sign-in: a malformed `code_challenge`.
    native_bad_challenge,
    /// JSON sign-in: a handle not issued to this client.
    native_unknown_handle,
    /// JSON sign-in: the verifier does not match the challenge.
    native_wrong_verifier,
    /// JSON sign-in: what was sent cannot be a mailed code.
    native_not_a_code,
    /// JSON sign-in: a wrong code (the tries left are a field of their own).
    native_wrong_code,
    /// JSON sign-in: too many wrong codes.
    native_attempt_dead,
    /// JSON sign-in: the code expired.
    native_attempt_expired,
    /// JSON sign-in: the code was used.
    native_attempt_used,
    /// JSON sign-in: a newer code or a sign-in replaced this one.
    native_attempt_superseded,
    /// JSON sign-in: the attempt is unknown or forgotten.
    native_attempt_unknown,
    /// JSON sign-in: the account or app needs a second factor this flow cannot ask for.
    native_second_factor_required,
    /// Authorization page: the request names no client.
    oidc_no_client,
    /// Authorization page: the app is not registered.
    oidc_unknown_client,
    /// Authorization page: no `redirect_uri`.
    oidc_no_redirect,
    /// Authorization page: a `redirect_uri` the app did not register.
    oidc_unregistered_redirect,
    /// Admin API: a `{user}` path segment that is neither an address nor a user id.
    admin_user_neither,
    // Passkey management: names, admin removal, passkey-only steps
    /// Account page: the rename field of passkey `{0}`.
    account_passkey_rename_label,
    /// Account page: rename a passkey.
    account_passkey_rename_button,
    /// Account page: the remove button's accessible name for passkey `{0}`.
    account_passkey_remove_label,
    /// Account page: the passkey may sync to other devices.
    account_passkey_synced,
    /// Account page: the passkey is backed up.
    account_passkey_backed_up,
    /// Account page: the passkey stays on one device.
    account_passkey_device_bound,
    /// Forced enrollment: a passkey offered besides the authenticator app.
    enroll_passkey_or,
    /// Second step: administrators must use a passkey.
    second_passkey_only_admin,
    /// Second step: the app being signed in to asks for a passkey.
    second_passkey_only_app,
    /// Second step: a passkey is needed and the account has none.
    second_passkey_missing,
    /// How a session signed in: with a passkey.
    method_passkey,
    /// Second step: a code was sent where only a passkey is accepted.
    second_passkey_codes_refused,
    /// Forced enrollment where only a passkey may be set up: the title and heading.
    enroll_passkey_title,
    // Admin pages and policy: passkeys
    /// Admin page: the policy box holding administrators to a passkey.
    admin_phishing_resistant_label,
    /// Policy problem: administrators held to a passkey while passkeys are not allowed.
    policy_phishing_resistant_needs_passkey,
    // Passkey sign-in at /login and the offer after sign-in
    /// Login page: sign in with a passkey instead of a mail.
    passkey_sign_in_button,
    /// Login page: a passkey's answer did not sign in.
    passkey_sign_in_refused,
    /// Login page: a passkey was refused because its counter went back (a copied key).
    passkey_sign_in_cloned,
    /// Account page, after an email sign-in: the offer to set up a passkey.
    passkey_offer_title,
    /// Account page: why to set up a passkey.
    passkey_offer_body,
    /// Account page: set up a passkey now.
    passkey_offer_button,
    // Mail domains: no mail domain, "did you mean"
    /// Login form: the address's domain receives no mail (`MAIL_DOMAIN_CHECK=refuse`).
    email_domain_no_mail,
    /// Login form: a near miss of a common domain; `{0}` the corrected address.
    email_typo_hint,
    /// Login form: send to the corrected address; `{0}` it.
    email_typo_use,
    /// Login form: send to the address as typed; `{0}` it.
    email_typo_keep,
    // Change of address by an administrator
    /// The notice to the address an administrator's change moved away from: how to have it
    /// undone (only an administrator can).
    email_change_admin_old_closing,
    // Phone, text and passkey refusals; the rest of the admin pages
    /// Phone number form: nothing was typed.
    phone_empty,
    /// Phone number form: the input is too long.
    phone_too_long,
    /// Phone number form: a character other than digits, spaces, `+`, `-`, `.` and brackets.
    phone_forbidden_character,
    /// Phone number form: no `+` and country code in front.
    phone_missing_country_code,
    /// Phone number form: not 8 to 15 digits.
    phone_wrong_length,
    /// Phone number form: not shaped like a phone number (a `+` in the middle).
    phone_malformed,
    /// Texts: the number is in a country this service does not text.
    second_country_refused,
    /// Texts: the text could not be sent just now.
    second_sms_failed,
    /// Second factor: the policy turned this method off.
    second_method_off,
    /// Passkey: the answer did not verify.
    passkey_refused,
    /// Passkey: the signature counter went back (a copied key).
    passkey_cloned,
    /// Passkey: already set up on this account.
    passkey_known,
    /// Passkey: the account has as many passkeys as it may.
    passkey_too_many,
    /// Passkey form: the `id` names no passkey of this account (starts with the field name).
    passkey_no_such,
    /// Passkey form: the name is longer than 64 characters (starts with the field name).
    passkey_name_too_long,
    /// Passkey form: the name has line breaks or control characters (starts with the field name).
    passkey_name_control,
    /// Passkey form: a rename with an empty name (starts with the field name).
    passkey_name_empty,
    /// A JSON field is missing (after the field's name).
    field_required,
    /// A JSON field is not a string (after the field's name).
    field_not_text,
    /// An address belongs to another account (after the field's name).
    email_taken_field,
    /// Admin user page: the user has no passkey.
    admin_passkeys_none,
    /// Admin user page: the button removing every passkey.
    admin_passkeys_remove_all,
    /// Admin user page: the heading over the actions.
    admin_actions,
    /// Admin audit API: `before` is not an event id (after the field's name).
    admin_audit_before_bad,
}
