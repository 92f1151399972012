//! The account's data: the export (what it holds, and no secret in it) and deleting the
//! account, by the person (a second factor used lately, or a fresh sign-in, and the address
//! typed) and by an administrator; no key of the user stays behind, the apps and the person
//! are told, and the address signs up again as a new account.

use latchkey::domain::UserId;
use latchkey::store::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use serde_json::Value;

use crate::factor_changes::{clients_file, wait_for_notice, wait_for_webhook};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::second_factor::{code, enroll, post};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
const GOODBYE: &str = "Your account was deleted";

/// Every key under the app's prefix whose name holds `user`'s id.
async fn keys_of(app: &TestApp, user: &UserId) -> Vec<String> {
    app.dump_redis().await.into_iter().map(|(key, _)| key).filter(|key| key.contains(user.as_str())).collect()
}

/// Every value the store holds under `user`'s keys (sealed factors, recovery code hashes …).
async fn stored_values(app: &TestApp, user: &UserId) -> Vec<String> {
    app.dump_redis().await.into_iter().filter(|(key, _)| key.contains(user.as_str())).map(|(_, v)| v).collect()
}

fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method, format!("{}/api/v1/admin{path}", app.address)).bearer_auth(TOKEN)
}

#[tokio::test]
async fn the_export_holds_the_account_its_factors_sessions_apps_and_activity_and_no_secret() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    let email = "export@example.com";
    let (secret, codes) = enroll(&app, email).await;
    let user = app.user_id().await;
    app.store().add_user_app(&user, "some-app").await.unwrap();
    let session_cookie = app.cookie("__Host-session").unwrap();

    let account = app.get("/account").await.text().await.unwrap();
    assert!(account.contains("href=\"/account/export\"") && account.contains("href=\"/account/delete\""));
    let response = app.get("/account/export").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"));
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let text = response.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["profile"]["email"], email);
    assert_eq!(export["profile"]["id"], user.as_str());
    assert_eq!(export["profile"]["blocked"], false);
    assert_eq!(export["second_factors"]["totp"], true);
    assert_eq!(export["second_factors"]["recovery_codes_left"], 10);
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert!(sessions[0]["created_at"].is_string() && sessions[0]["device"].is_string());
    assert_eq!(export["apps"], serde_json::json!(["some-app"]));
    assert!(export["known_devices"].as_u64().unwrap() >= 1, "{export}");
    let kinds: Vec<&str> = export["activity"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"session_issued") && kinds.contains(&"factor_changed"), "{kinds:?}");

    // No secret: not the TOTP key, a recovery code, anything the store keeps under the user's
    // keys in sealed or hashed form, the session token or its id.
    assert!(!text.contains(&secret.base32()), "the TOTP secret is in the export");
    for code in &codes {
        assert!(!text.contains(code.as_str()), "a recovery code is in the export");
    }
    let factors = app.store().connection();
    let mut conn = factors;
    let recovery: Vec<String> = ::redis::cmd("SMEMBERS")
        .arg(format!("{}{{u:{}}}:recovery", app.prefix, user))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(recovery.len(), 10);
    for hash in &recovery {
        assert!(!text.contains(hash.as_str()), "a recovery code hash is in the export");
    }
    let sealed: String =
        ::redis::cmd("GET").arg(format!("{}{{u:{}}}:factors", app.prefix, user)).query_async(&mut conn).await.unwrap();
    let sealed: Value = serde_json::from_str(&sealed).unwrap();
    assert!(!text.contains(sealed["totp"].as_str().unwrap()), "the sealed TOTP seed is in the export");
    assert!(!text.contains(&session_cookie), "the session token is in the export");
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert!(!text.contains(claims["sid"].as_str().unwrap()), "the session id is in the export");
    assert!(!stored_values(&app, &user).await.is_empty());

    // The export is in the person's activity; an administrator's too, by address or id.
    let events = app.store().user_events(&user, 10).await.unwrap();
    assert!(events.iter().any(|e| e.kind.name() == "account_exported" && e.detail == "by user"));
    for who in [email, user.as_str()] {
        let by_admin = admin(&app, reqwest::Method::GET, &format!("/users/{who}/export")).send().await.unwrap();
        assert_eq!(by_admin.status(), StatusCode::OK);
        assert_eq!(by_admin.headers()[CACHE_CONTROL], "no-store");
        let document: Value = by_admin.json().await.unwrap();
        assert_eq!(document["profile"]["id"], user.as_str());
    }
    let global = app.store().global_events(None, 50).await.unwrap();
    assert!(global.iter().any(|e| e.kind.name() == "admin_action" && e.detail == "export by api-token"));
    let unknown = admin(&app, reqwest::Method::GET, "/users/nobody@example.com/export").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let malformed = admin(&app, reqwest::Method::GET, "/users/not%20an%20id/export").send().await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(malformed.text().await.unwrap().contains("user"));
    let anonymous = app.client.get(format!("{}/api/v1/admin/users/{email}/export", app.address)).send().await;
    assert_eq!(anonymous.unwrap().status(), StatusCode::UNAUTHORIZED);

    // A stranger is sent to sign in.
    app.clear_cookies();
    let stranger = app.get("/account/export").await;
    assert_eq!(stranger.status(), StatusCode::SEE_OTHER);
    assert!(stranger.headers()[LOCATION].to_str().unwrap().starts_with("/login"));
}

#[tokio::test]
async fn deleting_the_account_needs_a_factor_used_lately_and_leaves_no_key_of_the_user() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let app = spawn_app_with(&[("CLIENTS_FILE", &clients_file(&receiver))]).await;
    let email = "leaving@example.com";
    let (secret, _) = enroll(&app, email).await;
    let user = app.user_id().await;
    app.store().add_user_app(&user, "hooked").await.unwrap();
    let cookie = app.cookie("__Host-session").unwrap();

    // The page says a factor is needed first, and the form is refused without one.
    let page = app.get("/account/delete").await.text().await.unwrap();
    assert!(page.contains("needs a second factor used in this browser"), "{page}");
    assert!(!page.contains("action=\"/account/delete\""));
    let refused = post(&app, "/account/delete", &[("email", email)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // Without the CSRF token, nothing happens either.
    let forged = app.post_form("/account/delete", &[("csrf", "forged"), ("email", email)]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(app.store().get_user(&user).await.unwrap().is_some());

    app.clock.advance(chrono::Duration::seconds(30));
    let confirmed = post(&app, "/account/confirm-factor", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    let wrong = post(&app, "/account/delete", &[("email", "someone@example.com")]).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("not this account"));
    assert!(app.store().get_user(&user).await.unwrap().is_some());
    assert!(!keys_of(&app, &user).await.is_empty());

    let before = app.mail.received().len();
    let done = post(&app, "/account/delete", &[("email", email)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Your account was deleted"));
    assert!(app.cookie("__Host-session").is_none(), "the session cookie stayed");

    // The apps are told, the person is mailed, the global log keeps a tombstone.
    let event = wait_for_webhook(&receiver, "user.deleted").await;
    assert_eq!(event["data"]["sub"], user.as_str());
    let goodbye = wait_for_notice(&app, before, GOODBYE).await;
    assert_eq!(goodbye.to, vec![email.to_owned()]);
    assert!(goodbye.text().contains("was deleted at your request"), "{}", goodbye.text());
    app.outbox_settled().await;
    let global = app.store().global_events(None, 100).await.unwrap();
    let tombstone = global.iter().find(|e| e.kind.name() == "account_deleted").expect("no tombstone");
    assert_eq!(tombstone.user, None);
    assert_eq!(tombstone.detail, format!("user {user} by user"));
    assert!(!tombstone.detail.contains("leaving"));

    // Nothing of the user is left, and the old session cookie is refused.
    assert_eq!(keys_of(&app, &user).await, Vec::<String>::new());
    assert!(index_entries_naming(&app, &user).await.is_empty(), "the address index still names the user");
    app.set_cookie("__Host-session", &cookie);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);

    // The address signs up again, as a new account.
    app.clear_cookies();
    app.sign_in(email).await;
    let again = app.user_id().await;
    assert_ne!(again, user);
}

/// The address index entries that name `user`.
async fn index_entries_naming(app: &TestApp, user: &UserId) -> Vec<String> {
    let index = format!("{}user-email:", app.prefix);
    app.dump_redis()
        .await
        .into_iter()
        .filter(|(k, v)| k.starts_with(&index) && v == user.as_str())
        .map(|(k, _)| k)
        .collect()
}

/// Waits (bounded) for a mail to `to` with `subject`.
async fn wait_for_mail_to(app: &TestApp, to: &str, subject: &str) -> crate::helpers::ReceivedMail {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let found = app.mail.received().into_iter().find(|m| m.subject() == subject && m.to == vec![to.to_owned()]);
        if let Some(mail) = found {
            return mail;
        }
        assert!(std::time::Instant::now() < deadline, "no mail \"{subject}\" to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_account_without_a_factor_is_deleted_only_from_a_fresh_sign_in_with_its_address_typed() {
    let app = spawn_app().await;
    let email = "plain@example.com";
    app.sign_in(email).await;
    let user = app.user_id().await;
    app.clock.advance(chrono::Duration::minutes(11));
    let page = app.get("/account/delete").await.text().await.unwrap();
    assert!(page.contains("needs a sign-in within the last 10 minutes"), "{page}");
    assert_eq!(post(&app, "/account/delete", &[("email", email)]).await.status(), StatusCode::FORBIDDEN);

    app.clear_cookies();
    app.sign_in(email).await;
    assert!(app.get("/account/delete").await.text().await.unwrap().contains("action=\"/account/delete\""));
    assert_eq!(post(&app, "/account/delete", &[("email", "")]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(&app, "/account/delete", &[("email", email)]).await.status(), StatusCode::OK);
    assert_eq!(app.store().get_user(&user).await.unwrap(), None);
    assert_eq!(keys_of(&app, &user).await, Vec::<String>::new());
    assert!(index_entries_naming(&app, &user).await.is_empty());
    wait_for_mail_to(&app, email, GOODBYE).await;
}

#[tokio::test]
async fn an_administrator_deletes_an_account_by_id_or_address_audited_and_mailed() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    app.sign_in("first@example.com").await;
    let first = app.user_id().await;
    app.clear_cookies();
    app.sign_in("second@example.com").await;
    let second = app.user_id().await;
    let cookie = app.cookie("__Host-session").unwrap();

    // Without the token (and from no page of ours) it is refused.
    let anonymous = app.client.delete(format!("{}/api/v1/admin/users/{first}", app.address)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    assert!(app.store().get_user(&first).await.unwrap().is_some());
    let by_id = admin(&app, reqwest::Method::DELETE, &format!("/users/{first}")).send().await.unwrap();
    assert_eq!(by_id.status(), StatusCode::OK);
    assert_eq!(by_id.json::<Value>().await.unwrap()["deleted"], first.as_str());
    let by_address = admin(&app, reqwest::Method::DELETE, "/users/second@example.com").send().await.unwrap();
    assert_eq!(by_address.status(), StatusCode::OK);
    let again = admin(&app, reqwest::Method::DELETE, &format!("/users/{first}")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    for (user, to) in [(&first, "first@example.com"), (&second, "second@example.com")] {
        let mail = wait_for_mail_to(&app, to, GOODBYE).await;
        assert!(mail.text().contains("An administrator deleted your account"), "{}", mail.text());
        assert_eq!(keys_of(&app, user).await, Vec::<String>::new());
    }
    let global = app.store().global_events(None, 100).await.unwrap();
    for user in [&first, &second] {
        let detail = format!("delete user {user} by api-token");
        assert!(global.iter().any(|e| e.kind.name() == "admin_action" && e.detail == detail), "{global:?}");
        let tombstone = format!("user {user} by api-token");
        assert!(global.iter().any(|e| e.kind.name() == "account_deleted" && e.detail == tombstone));
    }
    app.set_cookie("__Host-session", &cookie);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_admin_page_deletes_an_account_but_an_administrators_only_with_the_token() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")]).await;
    app.sign_in("member@example.com").await;
    let member = app.user_id().await;
    app.clear_cookies();
    crate::admin::sign_in_admin(&app).await;
    let boss = app.user_id().await;

    let page = app.get("/admin/users?email=member%40example.com").await.text().await.unwrap();
    assert!(page.contains("Delete account"), "{page}");
    let csrf = crate::helpers::hidden_field(&page, "csrf").unwrap();
    let forged = app.post_form("/admin/users/delete", &[("csrf", "forged"), ("email", "member@example.com")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(app.store().get_user(&member).await.unwrap().is_some());
    let done = app.post_form("/admin/users/delete", &[("csrf", &csrf), ("email", "member@example.com")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/admin");
    assert_eq!(keys_of(&app, &member).await, Vec::<String>::new());
    let mail = wait_for_mail_to(&app, "member@example.com", GOODBYE).await;
    assert!(mail.text().contains("An administrator deleted your account"));
    let global = app.store().global_events(None, 100).await.unwrap();
    let detail = format!("delete user {member} by {boss}");
    assert!(global.iter().any(|e| e.kind.name() == "admin_action" && e.detail == detail), "{global:?}");

    // An administrator's account: not from a session, only with the token.
    let own = app.post_form("/admin/users/delete", &[("csrf", &csrf), ("email", "boss@example.com")]).await;
    assert_eq!(own.status(), StatusCode::FORBIDDEN);
    assert!(app.store().get_user(&boss).await.unwrap().is_some());
    let with_token = admin(&app, reqwest::Method::DELETE, "/users/boss@example.com").send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
    assert_eq!(app.store().get_user(&boss).await.unwrap(), None);
}

#[tokio::test]
async fn an_administrators_reset_and_deletion_are_mailed_in_the_language_of_the_latest_sign_in() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    let email = "jana@example.com";
    // The latest sign-in is in German; then an authenticator app is set up.
    let token = app.request_token(email).await;
    let csrf = app.csrf_token().await;
    let verify = app.client.post(format!("{}/login/verify", app.address)).header(ACCEPT_LANGUAGE, "de");
    let verify = app.send(verify.form(&[("token", token.as_str()), ("csrf", csrf.as_str())])).await;
    assert_eq!(verify.status(), StatusCode::SEE_OTHER);
    let user = app.user_id().await;
    let page = post(&app, "/account/totp/enroll", &[]).await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&page);
    let confirm = post(&app, "/account/totp/confirm", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(confirm.status(), StatusCode::OK);

    let before = app.mail.received().len();
    let reset = admin(&app, reqwest::Method::DELETE, &format!("/users/{email}/second-factor")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    let notice = wait_for_notice(&app, before, "Ihre Anmeldung wurde geändert").await;
    assert!(notice.text().contains("alle zweiten Faktoren"), "{}", notice.text());

    let deleted = admin(&app, reqwest::Method::DELETE, &format!("/users/{user}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let goodbye = wait_for_mail_to(&app, email, "Ihr Konto wurde gelöscht").await;
    assert!(goodbye.text().contains("Ein Administrator hat Ihr Konto"), "{}", goodbye.text());
    assert_eq!(keys_of(&app, &user).await, Vec::<String>::new());
}
