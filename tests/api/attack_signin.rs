//! Sign-in attacks: links, codes, forms, input, enumeration, redirects.

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::helpers::{
    TestApp, hidden_field, magic_link_from, race_redemptions, request, session_cookie_set, set_cookies, spawn_app,
    spawn_app_with, token_from_link,
};

async fn post_code(app: &TestApp, token: Option<&str>, code: &str) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    let mut form = vec![("code", code), ("csrf", csrf.as_str())];
    if let Some(token) = token {
        form.push(("token", token));
    }
    app.post_form("/login/code", &form).await
}

// ---- Browser binding ------------------------------------------------------------------

#[tokio::test]
async fn a_link_opened_in_another_browser_does_not_sign_in_without_the_code() {
    let app = spawn_app_with(&[("CROSS_DEVICE", "code")]).await;
    let (token, code) = request(&app, "victim@example.com").await;
    assert!(app.cookie("__Host-attempt").is_some(), "POST /login set no attempt cookie");

    // Another browser (a scanner, or a victim sent an attacker's link): no one-click.
    app.clear_cookies();
    let page = app.get_verify(&token).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("victim@example.com") && html.contains("a different browser"), "{html}");
    assert!(html.contains("name=\"code\""), "no code box on the cross-device page");
    let response = app.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!session_cookie_set(&response));
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);

    // The code from the same mail finishes it on this device.
    let response = post_code(&app, Some(&token), &code.to_lowercase()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&response));
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_browser_that_asked_can_type_the_code_instead_of_clicking() {
    let app = spawn_app().await;
    let (token, code) = request(&app, "asker@example.com").await;
    let response = post_code(&app, None, &code).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&response).iter().any(|c| c.starts_with("__Host-attempt=") && c.contains("Max-Age=0")));
    // The code used the attempt: the link is dead too.
    app.clear_cookies();
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_used_link_kills_its_code() {
    let app = spawn_app().await;
    let (token, code) = request(&app, "both@example.com").await;
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
    app.clear_cookies();
    let response = post_code(&app, Some(&token), &code).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(!session_cookie_set(&response));
}

#[tokio::test]
async fn five_wrong_codes_end_the_attempt_link_and_code_alike() {
    let app = spawn_app().await;
    let (token, code) = request(&app, "guess@example.com").await;
    let wrong = if code.starts_with('A') { "BBBB-BBBB" } else { "AAAA-AAAA" };
    app.clear_cookies();
    for left in (1..=4).rev() {
        let response = post_code(&app, Some(&token), wrong).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = response.text().await.unwrap();
        let expected = if left == 1 { "One try left".to_owned() } else { format!("{left} tries left") };
        assert!(html.contains(&expected), "expected {expected:?} in {html}");
    }
    let response = post_code(&app, Some(&token), wrong).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(response.text().await.unwrap().contains("Too many wrong codes"));
    // Now not even the right code, nor the link in the browser that asked, works.
    let response = post_code(&app, Some(&token), &code).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(!session_cookie_set(&response));
    assert_eq!(app.get_verify(&token).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn parallel_code_guesses_cannot_exceed_five_tries() {
    let app = Arc::new(spawn_app().await);
    let (token, code) = request(&app, "parallel@example.com").await;
    let csrf = app.csrf_token().await;
    let wrong = if code.starts_with('A') { "BBBB-BBBB" } else { "AAAA-AAAA" };
    let guesses: Vec<_> = (0..12)
        .map(|_| {
            let (app, token, csrf) = (app.clone(), token.clone(), csrf.clone());
            tokio::spawn(async move {
                app.post_form("/login/code", &[("code", wrong), ("csrf", &csrf), ("token", &token)]).await.status()
            })
        })
        .collect();
    let mut wrong_answers = 0;
    for guess in guesses {
        if guess.await.unwrap() == StatusCode::BAD_REQUEST {
            wrong_answers += 1;
        }
    }
    assert!(wrong_answers <= 4, "{wrong_answers} guesses were checked");
    assert_eq!(post_code(&app, Some(&token), &code).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn policy_click_lets_another_browser_finish_in_one_click() {
    let app = spawn_app_with(&[("CROSS_DEVICE", "click")]).await;
    let (token, _) = request(&app, "click@example.com").await;
    app.clear_cookies();
    let html = app.get_verify(&token).await.text().await.unwrap();
    assert!(html.contains("not the browser that asked"), "{html}");
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn policy_deny_keeps_the_sign_in_in_the_browser_that_asked() {
    let app = spawn_app_with(&[("CROSS_DEVICE", "deny")]).await;
    let (token, code) = request(&app, "deny@example.com").await;
    let asker = app.cookie("__Host-attempt").unwrap();
    let csrf_cookie = app.cookie("__Host-csrf").unwrap();
    app.clear_cookies();
    assert_eq!(app.get_verify(&token).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::FORBIDDEN);
    let response = post_code(&app, Some(&token), &code).await;
    assert!(!session_cookie_set(&response));
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    // Back in the browser that asked, the code works.
    app.clear_cookies();
    app.set_cookie("__Host-attempt", &asker);
    app.set_cookie("__Host-csrf", &csrf_cookie);
    assert_eq!(post_code(&app, None, &code).await.status(), StatusCode::SEE_OTHER);
}

// ---- Links: replay, races, supersede, brute force -------------------------------------

#[tokio::test]
async fn get_and_head_of_the_link_leave_it_usable() {
    let app = spawn_app().await;
    let (token, _) = request(&app, "scanner@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.get_verify(&token).await.status(), StatusCode::OK);
        let head = app.send(app.client.head(format!("{}/login/verify", app.address)).query(&[("token", &token)])).await;
        assert!(head.status() != StatusCode::SEE_OTHER && !session_cookie_set(&head));
    }
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn thirty_two_concurrent_redemptions_on_two_instances_give_exactly_one_session() {
    let first = spawn_app().await;
    let second = crate::helpers::spawn_peer(&first, &[]).await;
    let (token, _) = request(&first, "race@example.com").await;
    assert_eq!(race_redemptions(&[&first, &second], &token, 32).await.len(), 1);
}

#[tokio::test]
async fn a_new_link_replaces_the_older_ones() {
    let app = spawn_app().await;
    let (old, _) = request(&app, "twice@example.com").await;
    let (new, _) = request(&app, "twice@example.com").await;
    let page = app.get_verify(&old).await;
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await.unwrap().contains("replaced"));
    assert_eq!(app.post_verify(&old).await.status(), StatusCode::GONE);
    assert_eq!(app.post_verify(&new).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn without_supersede_a_sign_in_still_voids_the_other_links() {
    let app = spawn_app_with(&[("LINK_SUPERSEDE", "false")]).await;
    let (first, first_code) = request(&app, "keep@example.com").await;
    let (second, _) = request(&app, "keep@example.com").await;
    assert_eq!(app.get_verify(&first).await.status(), StatusCode::OK, "supersede is off: both links live");
    assert_eq!(app.post_verify(&second).await.status(), StatusCode::SEE_OTHER);
    app.clear_cookies();
    let response = post_code(&app, Some(&first), &first_code).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(!session_cookie_set(&response));
}

#[tokio::test]
async fn two_links_for_one_address_raced_give_one_session() {
    let app = spawn_app_with(&[("LINK_SUPERSEDE", "false"), ("CROSS_DEVICE", "click")]).await;
    let (a, _) = request(&app, "pair@example.com").await;
    let (b, _) = request(&app, "pair@example.com").await;
    let csrf = app.csrf_token().await;
    let cookies = format!("__Host-csrf={}", app.cookie("__Host-csrf").unwrap());
    let tasks: Vec<_> = [a, b]
        .into_iter()
        .cycle()
        .take(8)
        .map(|token| {
            let request = app
                .client
                .post(format!("{}/login/verify", app.address))
                .header("Cookie", &cookies)
                .form(&[("token", token.as_str()), ("csrf", csrf.as_str())]);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut sessions = 0;
    for task in tasks {
        sessions += usize::from(session_cookie_set(&task.await.unwrap()));
    }
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn guessing_tokens_is_cut_off_with_429() {
    let app = spawn_app_with(&[("RATE_LIMIT_REDEEM_FAILURES_IP", "5/15m")]).await;
    let (real, _) = request(&app, "brute@example.com").await;
    for _ in 0..5 {
        let guess = latchkey::crypto::random_token::<32>().unwrap();
        assert_eq!(app.post_verify(&guess).await.status(), StatusCode::NOT_FOUND);
    }
    let guess = latchkey::crypto::random_token::<32>().unwrap();
    let response = app.post_verify(&guess).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    assert_eq!(app.get_verify(&guess).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // The cut-off holds for real links from that address too, until the window passes.
    assert_eq!(app.post_verify(&real).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

// ---- Rate limits on requesting links -------------------------------------------------

#[tokio::test]
async fn a_sixth_link_for_one_address_within_fifteen_minutes_is_refused() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.post_login("flood@example.com").await.status(), StatusCode::OK);
    }
    let response = app.post_login("flood@example.com").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body = response.text().await.unwrap();
    assert!(body.contains("Too many attempts") && !body.contains("flood@example.com"), "{body}");
    app.mail.wait_for(5).await;
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), 5, "a refused request still sent mail");
    // Another address from the same browser is not affected.
    assert_eq!(app.post_login("other@example.com").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn requests_per_ip_are_limited_and_forged_forwarding_headers_do_not_help() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_IP", "3/15m")]).await;
    let csrf = app.csrf_token().await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let form = [("email", format!("ip{i}@example.com")), ("csrf", csrf.clone())];
        let request = app
            .client
            .post(format!("{}/login", app.address))
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .form(&form);
        statuses.push(app.send(request).await.status());
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    let response = app
        .send(
            app.client
                .post(format!("{}/api/v1/login", app.address))
                .json(&serde_json::json!({"email": "j@example.com"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"], "rate_limited");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_ip_is_what_is_limited() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_IP", "2/15m"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let csrf = app.csrf_token().await;
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let request = app
            .client
            .post(format!("{}/login", app.address))
            .header("X-Forwarded-For", format!("10.9.9.9, {client}"))
            .form(&[("email", format!("{client}@example.com").as_str()), ("csrf", csrf.as_str())]);
        assert_eq!(app.send(request).await.status(), StatusCode::OK, "{client}");
    }
    // Delivery order is not request order: look at all three.
    let texts: Vec<String> = app.mail.wait_for(3).await.iter().map(|m| m.text()).collect();
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert!(texts.iter().any(|t| t.contains(client)), "no mail names {client}");
    }
    assert!(texts.iter().all(|t| !t.contains("127.0.0.1") && !t.contains("10.9.9.9")), "a mail names a proxy");
}

// ---- Forms, input, enumeration, redirects ---------------------------------------------

#[tokio::test]
async fn a_csrf_token_from_another_browser_is_refused() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let foreign = other.csrf_token().await;
    app.csrf_token().await;
    let response = app.post_form("/login", &[("email", "a@example.com"), ("csrf", &foreign)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let csrf = app.csrf_token().await;
    let cross_site = app
        .client
        .post(format!("{}/login", app.address))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("email", "a@example.com"), ("csrf", csrf.as_str())]);
    assert_eq!(app.send(cross_site).await.status(), StatusCode::FORBIDDEN);
    let json_cross_origin = app
        .client
        .post(format!("{}/api/v1/login", app.address))
        .header("Origin", "https://evil.example")
        .json(&serde_json::json!({"email": "a@example.com"}));
    assert_eq!(app.send(json_cross_origin).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn hostile_input_gets_a_4xx_never_a_5xx() {
    let app = spawn_app().await;
    let csrf = app.csrf_token().await;
    let cookie = format!("__Host-csrf={}", app.cookie("__Host-csrf").unwrap());
    let bodies: Vec<Vec<u8>> = vec![
        format!("email=a%40example.com%0D%0ABcc%3A+x%40evil.example&csrf={csrf}").into_bytes(),
        format!("email=a%00%40example.com&csrf={csrf}").into_bytes(),
        [b"email=\xff\xfe%40example.com&csrf=".as_slice(), csrf.as_bytes()].concat(),
        format!("email=%FF%FE%40example.com&csrf={csrf}").into_bytes(),
        format!("email={}%40example.com&csrf={csrf}", "a".repeat(10_000)).into_bytes(),
    ];
    for body in bodies {
        let response = app
            .client
            .post(format!("{}/login", app.address))
            .header("Cookie", &cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let huge = format!("email=a%40example.com&csrf={csrf}&pad={}", "x".repeat(1 << 20));
    let response = app
        .client
        .post(format!("{}/login", app.address))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "1 MB body got {}", response.status());
    }
    let json = app
        .client
        .post(format!("{}/api/v1/login", app.address))
        .header("Content-Type", "application/json")
        .body(format!("{{\"email\":\"{}\"}}", "a".repeat(1 << 20)))
        .send()
        .await;
    if let Ok(response) = json {
        assert!(response.status().is_client_error(), "1 MB JSON got {}", response.status());
    }
    app.outbox_settled().await;
    assert!(app.mail.received().is_empty());
}

/// Everything about a response that could tell addresses apart, with the per-request
/// values (CSRF token, cookie values, date, the typed address) masked.
async fn fingerprint(response: reqwest::Response, email: &str) -> String {
    let status = response.status();
    let mut headers: Vec<String> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or_default();
            let value = match value.split_once('=') {
                Some((cookie, rest)) if name == "set-cookie" => {
                    format!("{cookie}=<v>;{}", rest.split_once(';').map_or("", |r| r.1))
                }
                _ => value.to_owned(),
            };
            format!("{name}: {value}")
        })
        .collect();
    headers.sort();
    let body = response.text().await.unwrap().replace(email, "<email>");
    let body = match hidden_field(&body, "csrf") {
        Some(token) => body.replace(&token, "<csrf>"),
        None => body,
    };
    // Policy `approve`: the number is random for every request, known address or not.
    let body = match body.split_once("class=\"match-number\">") {
        Some((before, after)) => format!("{before}class=\"match-number\"><n>{}", after.get(2..).unwrap_or_default()),
        None => body,
    };
    let headers: Vec<String> = headers
        .into_iter()
        .map(|h| if h.starts_with("content-length") { "content-length: <n>".to_owned() } else { h })
        .collect();
    format!("{status}\n{}\n\n{body}", headers.join("\n"))
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_response() {
    let app = spawn_app().await;
    app.sign_in("known@example.com").await;
    app.clear_cookies();
    let known = fingerprint(app.post_login("known@example.com").await, "known@example.com").await;
    app.clear_cookies();
    let unknown = fingerprint(app.post_login("nobody@example.com").await, "nobody@example.com").await;
    assert_eq!(known, unknown);
    // The lengths match too once the address is accounted for.
    let api = |email: &'static str| {
        app.client.post(format!("{}/api/v1/login", app.address)).json(&serde_json::json!({ "email": email })).send()
    };
    let (a, b) = (api("known@example.com").await.unwrap(), api("nobody2@example.com").await.unwrap());
    assert_eq!(a.status(), b.status());
    // The same fields, with a random number under policy `approve`, for both.
    let (a, b): (serde_json::Value, serde_json::Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&a), keys(&b));
    assert_eq!((&a["status"], &a["status_url"]), (&b["status"], &b["status_url"]));
}

#[tokio::test]
async fn return_to_pointing_elsewhere_is_ignored() {
    let app = spawn_app().await;
    for evil in ["//evil.example", "/\\evil.example", "https://evil.example", "/%2F%2Fevil.example", "/%5Cevil.example"]
    {
        let csrf = app.csrf_token().await;
        let before = app.mail.received().len();
        let response =
            app.post_form("/login", &[("email", "redirect@example.com"), ("csrf", &csrf), ("return_to", evil)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let token = token_from_link(&magic_link_from(&app.mail.wait_for_link_mail(before).await));
        let response = app.post_verify(&token).await;
        assert_eq!(response.headers()[LOCATION], "/account", "return_to {evil:?}");
        // The login page does not carry it into its form either.
        let page = app.get(&format!("/login?return_to={}", urlencode(evil))).await.text().await.unwrap();
        assert!(hidden_field(&page, "return_to").is_none(), "{evil:?} kept by the login page");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---- Sessions ---------------------------------------------------------------------------

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_the_user() {
    let laptop = spawn_app().await;
    laptop.sign_in("many@example.com").await;
    // A second device: the link from a mail requested on the laptop, finished with its code.
    let (token, code) = request(&laptop, "many@example.com").await;
    let laptop_session = laptop.cookie("__Host-session").unwrap();
    laptop.clear_cookies();
    assert_eq!(post_code(&laptop, Some(&token), &code).await.status(), StatusCode::SEE_OTHER);
    let phone_session = laptop.cookie("__Host-session").unwrap();

    laptop.set_cookie("__Host-session", &laptop_session);
    let html = laptop.get("/account").await.text().await.unwrap();
    assert_eq!(html.matches("name=\"sid\"").count(), 1, "the account page should list the other session");
    let csrf = laptop.csrf_token().await;
    assert_eq!(laptop.post_form("/logout/all", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    for session in [&laptop_session, &phone_session] {
        laptop.set_cookie("__Host-session", session);
        assert_eq!(laptop.get_session().await.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn one_other_session_can_be_ended_from_the_account_page() {
    let app = spawn_app().await;
    app.sign_in("two@example.com").await;
    let first = app.cookie("__Host-session").unwrap();
    app.clear_cookies();
    app.sign_in("two@example.com").await;
    let second = app.cookie("__Host-session").unwrap();
    let html = app.get("/account").await.text().await.unwrap();
    let sid = hidden_field(&html, "sid").expect("no other session listed");
    let csrf = app.csrf_token().await;
    let response = app.post_form("/account/sessions/end", &[("csrf", &csrf), ("sid", &sid)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_session().await.status(), StatusCode::OK, "ended the wrong session");
    app.set_cookie("__Host-session", &first);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    app.set_cookie("__Host-session", &second);
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_in_again_ends_the_browsers_previous_session() {
    let app = spawn_app().await;
    app.sign_in("again@example.com").await;
    let before = app.cookie("__Host-session").unwrap();
    app.sign_in("again@example.com").await;
    app.set_cookie("__Host-session", &before);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_same_origin_form_with_origin_null_is_accepted_and_a_cross_site_one_refused() {
    // Under Referrer-Policy: no-referrer, browsers send Origin: null on their own form posts.
    let app = spawn_app().await;
    for (fetch_site, expected) in [
        (Some("same-origin"), StatusCode::OK),
        (None, StatusCode::OK),
        (Some("cross-site"), StatusCode::FORBIDDEN),
        (Some("same-site"), StatusCode::FORBIDDEN),
    ] {
        let csrf = app.csrf_token().await;
        let mut request = app
            .client
            .post(format!("{}/login", app.address))
            .header("Origin", "null")
            .form(&[("email", "null-origin@example.com"), ("csrf", csrf.as_str())]);
        if let Some(site) = fetch_site {
            request = request.header("Sec-Fetch-Site", site);
        }
        assert_eq!(app.send(request).await.status(), expected, "Sec-Fetch-Site {fetch_site:?}");
    }
}

/// The attempt's hash in Redis, field by field.
async fn attempt_hash(app: &TestApp, attempt_id: &str) -> Vec<(String, String)> {
    let key = format!("{}{{a:{attempt_id}}}:attempt", app.prefix);
    let mut conn = app.store().connection();
    let mut fields: Vec<(String, String)> = ::redis::cmd("HGETALL").arg(&key).query_async(&mut conn).await.unwrap();
    fields.sort();
    fields
}

#[tokio::test]
async fn a_forged_attempt_cookie_spends_no_tries_and_leaves_the_attempt_untouched() {
    let app = Arc::new(spawn_app().await);
    let (_, code) = request(&app, "forged@example.com").await;
    let real = app.cookie("__Host-attempt").unwrap();
    let (attempt_id, secret) = real.split_once('.').unwrap();
    let forged = format!("{attempt_id}.{}", "A".repeat(secret.len()));
    let before = attempt_hash(&app, attempt_id).await;
    assert!(before.iter().any(|(field, _)| field == "status"), "no attempt in Redis: {before:?}");
    app.set_cookie("__Host-attempt", &forged);
    let csrf = app.csrf_token().await;
    let wrong = if code.starts_with('A') { "BBBB-BBBB" } else { "AAAA-AAAA" };
    // A burst of wrong codes, the right one and a malformed one, all under the forged cookie.
    let guesses: Vec<_> = [wrong; 8]
        .into_iter()
        .chain([code.as_str(), "not a code"])
        .map(|guess| {
            let (app, csrf, guess) = (app.clone(), csrf.clone(), guess.to_owned());
            tokio::spawn(async move {
                let response = app.post_form("/login/code", &[("code", &guess), ("csrf", &csrf)]).await;
                (response.status(), session_cookie_set(&response), response.text().await.unwrap())
            })
        })
        .collect();
    for guess in guesses {
        let (status, session, body) = guess.await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(!session, "a forged cookie got a session");
        assert!(!body.contains("forged@example.com"), "a forged cookie was shown the attempt");
    }
    assert_eq!(attempt_hash(&app, attempt_id).await, before, "the forged cookie changed the attempt");
    // The person who asked still has every try, and their code works.
    app.set_cookie("__Host-attempt", &real);
    let csrf = app.csrf_token().await;
    let response = app.post_form("/login/code", &[("code", wrong), ("csrf", &csrf)]).await;
    assert!(response.text().await.unwrap().contains("4 tries left"));
    let response = app.post_form("/login/code", &[("code", &code), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&response));
}

/// Any site of the parent domain can set a cookie for the whole domain under a percent-encoded
/// name (`__Host%2Dsession`: the browser holds only the literal `__Host-` prefix to its rules).
/// latchkey reads its cookies by their names as sent, so what a sibling site plants in a
/// victim's browser under such a name — the attacker's own session, or a CSRF secret whose
/// token the attacker knows — stands for none of them.
#[tokio::test]
async fn cookies_planted_under_percent_encoded_names_stand_for_none_of_ours() {
    let app = spawn_app().await;
    // The attacker's session and CSRF pair, from the attacker's own browser.
    app.sign_in("mallory@example.com").await;
    let session = app.cookie("__Host-session").expect("a session");
    let csrf_secret = app.cookie("__Host-csrf").expect("a CSRF cookie");
    let csrf_token = app.csrf_token().await;
    let victim = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let send = |cookies: String| {
        let verify = victim.get(format!("{}/auth/verify", app.address)).header(reqwest::header::COOKIE, &cookies);
        let login = victim
            .post(format!("{}/login", app.address))
            .header(reqwest::header::COOKIE, &cookies)
            .form(&[("email", "victim@example.com"), ("csrf", csrf_token.as_str())]);
        async move { (verify.send().await.unwrap().status(), login.send().await.unwrap().status()) }
    };
    let planted = send(format!("__Host%2Dsession={session}; __Host%2Dcsrf={csrf_secret}")).await;
    assert_eq!(planted, (StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN), "planted cookies were taken for ours");
    // The same values under the real names pass: the refusals were the names'.
    let own = send(format!("__Host-session={session}; __Host-csrf={csrf_secret}")).await;
    assert_eq!(own, (StatusCode::OK, StatusCode::OK));
}
