//! The service on a Redis Cluster of three masters (`REDIS_CLUSTER_URLS`): the whole sign-in,
//! the redemption race, logout everywhere, an OIDC code exchange, and where the keys land.
//! Also: a dedicated connection (cluster and one server) blocks without blocking the store.

use reqwest::StatusCode;
use serde_json::Value;

use latchkey::store::RedisStore;

use crate::helpers::cluster::{cluster_store, key_slot, keys_per_node};
use crate::helpers::{TestApp, cluster_urls_var, race_redemptions, request, spawn_app_with};

async fn spawn_on_cluster(extra: &[(&str, &str)]) -> TestApp {
    let urls = cluster_urls_var();
    let mut env = vec![("REDIS_URL", ""), ("REDIS_CLUSTER_URLS", urls.as_str())];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

/// Another instance of `peer`'s deployment on the cluster (same prefix, outbox and SMTP server).
async fn peer_on_cluster(peer: &TestApp) -> TestApp {
    let urls = cluster_urls_var();
    crate::helpers::spawn_peer(peer, &[("REDIS_URL", ""), ("REDIS_CLUSTER_URLS", urls.as_str())]).await
}

#[tokio::test]
async fn a_person_signs_in_and_the_session_lives_in_the_users_slot() {
    let app = spawn_on_cluster(&[]).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    let (token, _) = request(&app, "cluster@example.com").await;
    assert_eq!(app.get_verify(&token).await.status(), StatusCode::OK);
    let response = app.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["email"], "cluster@example.com");
    let (sub, sid) = (claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap());

    // The session, the user's session index and record share the user's slot, on one node.
    let session_key = format!("{}{{u:{sub}}}:session:{sid}", app.prefix);
    let index_key = format!("{}{{u:{sub}}}:sessions", app.prefix);
    assert_eq!(key_slot(&session_key), key_slot(&format!("u:{sub}")));
    assert_eq!(key_slot(&session_key), key_slot(&index_key));
    let holders: Vec<u16> =
        keys_per_node(&session_key).into_iter().filter(|(_, n)| *n == 1).map(|(port, _)| port).collect();
    assert_eq!(holders.len(), 1, "the session key should be on exactly one node: {holders:?}");
    let store = cluster_store(&app.prefix);
    let mut conn = store.connection();
    let members: Vec<String> = redis::cmd("SMEMBERS").arg(&index_key).query_async(&mut conn).await.unwrap();
    assert_eq!(members, [sid]);

    // A second person: more keys, more slots. Together they are spread over the cluster
    // (all of them on one of three nodes would take about 16 coin flips landing alike).
    let other = peer_on_cluster(&app).await;
    other.sign_in("someone.else@example.com").await;
    let spread = keys_per_node(&format!("{}*", app.prefix));
    assert!(spread.iter().filter(|(_, n)| *n > 0).count() > 1, "every key on one node: {spread:?}");

    // Signing out ends the session in the cluster.
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    let exists: i64 = redis::cmd("EXISTS").arg(&session_key).query_async(&mut conn).await.unwrap();
    assert_eq!(exists, 0, "the session outlived its logout");
}

#[tokio::test]
async fn thirty_two_concurrent_redemptions_on_two_instances_give_exactly_one_session() {
    let first = spawn_on_cluster(&[]).await;
    let second = peer_on_cluster(&first).await;
    let (token, _) = request(&first, "race@example.com").await;
    assert_eq!(race_redemptions(&[&first, &second], &token, 32).await.len(), 1);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_on_the_cluster() {
    let laptop = spawn_on_cluster(&[]).await;
    laptop.sign_in("many@example.com").await;
    let laptop_session = laptop.cookie("__Host-session").unwrap();
    // A second device finishes a second link with the code from its mail.
    let (token, code) = request(&laptop, "many@example.com").await;
    laptop.clear_cookies();
    let csrf = laptop.csrf_token().await;
    let response = laptop.post_form("/login/code", &[("code", &code), ("token", &token), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let phone_session = laptop.cookie("__Host-session").unwrap();
    assert_eq!(laptop.get_session().await.status(), StatusCode::OK);

    laptop.set_cookie("__Host-session", &laptop_session);
    let csrf = laptop.csrf_token().await;
    assert_eq!(laptop.post_form("/logout/all", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    for session in [&laptop_session, &phone_session] {
        laptop.set_cookie("__Host-session", session);
        assert_eq!(laptop.get_session().await.status(), StatusCode::UNAUTHORIZED);
    }
    let spread = keys_per_node(&format!("{}*:session:*", laptop.prefix));
    assert!(spread.iter().all(|(_, n)| *n == 0), "session keys left: {spread:?}");
}

const ADMIN_TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
const APP_CB: &str = "https://app.example.test/cb";
/// RFC 7636's example verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn a_client_registered_at_run_time_exchanges_a_code_once() {
    let app = spawn_on_cluster(&[("ADMIN_API_TOKEN", ADMIN_TOKEN)]).await;
    // Registering writes the client and the `{clients}` index in one MULTI.
    let draft = serde_json::json!({ "client_id": "app", "name": "App", "type": "public", "redirect_uris": [APP_CB] });
    let response = app
        .client
        .post(format!("{}/api/v1/admin/clients", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());

    app.sign_in("oidc@example.com").await;
    let mut authorize = url::Url::parse(&format!("{}/oauth2/authorize", app.address)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "app")
        .append_pair("redirect_uri", APP_CB)
        .append_pair("scope", "openid email")
        .append_pair("state", "s-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let response = app.send(app.client.get(authorize.as_str())).await;
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let location = url::Url::parse(&location.expect("a live session should go straight back to the app")).unwrap();
    assert!(location.as_str().starts_with(APP_CB), "{location}");
    let code = location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("no code");

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", APP_CB),
        ("client_id", "app"),
        ("code_verifier", VERIFIER),
    ];
    let exchange = || app.client.post(format!("{}/oauth2/token", app.address)).form(&form).send();
    let first = exchange().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = || app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(&access).send();
    let info: Value = userinfo().await.unwrap().json().await.unwrap();
    assert_eq!(info["email"], "oidc@example.com");
    assert_eq!(exchange().await.unwrap().status(), StatusCode::BAD_REQUEST, "a code worked twice");
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::UNAUTHORIZED, "replay did not revoke the token");
}

#[tokio::test]
async fn an_unreachable_cluster_means_not_ready_and_503_never_a_crash() {
    // Nothing listens here: the app still starts, and answers without the store.
    let port = crate::helpers::free_port();
    let urls = format!("redis://127.0.0.1:{port}");
    let app = spawn_app_with(&[("REDIS_URL", ""), ("REDIS_CLUSTER_URLS", &urls)]).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .post(format!("{}/api/v1/login", app.address))
        .json(&serde_json::json!({ "email": "down@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// How many clients a Redis node reports as blocked (in `BLPOP`, `XREAD … BLOCK` …).
fn blocked_clients(port: u16) -> usize {
    crate::helpers::cluster::redis_cli(port, &["INFO", "clients"])
        .and_then(|info| {
            info.lines().find_map(|l| l.trim().strip_prefix("blocked_clients:").and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// A read blocked on a dedicated connection leaves the store's shared connection free, and
/// gets what is then written through the store.
async fn a_blocking_read_leaves_the_store_free(store: RedisStore, ports: Vec<u16>) {
    let key = store.keys().outbox_ready();
    let mut dedicated = store.dedicated_connection(None).unwrap();
    let read_key = key.clone();
    let reader = tokio::spawn(async move {
        let entries: redis::Value = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg(&read_key)
            .arg("0-0")
            .query_async(&mut dedicated)
            .await
            .unwrap();
        entries
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while ports.iter().map(|p| blocked_clients(*p)).sum::<usize>() == 0 {
        assert!(std::time::Instant::now() < deadline, "the XREAD never blocked on the server");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The shared connection still answers while the dedicated one waits.
    latchkey::store::IdentityStore::ping(&store).await.unwrap();
    let mut shared = store.connection();
    let _: String =
        redis::cmd("XADD").arg(&key).arg("*").arg("data").arg("hello").query_async(&mut shared).await.unwrap();
    let entries = reader.await.unwrap();
    assert!(format!("{entries:?}").contains("hello"), "{entries:?}");
}

#[tokio::test]
async fn a_dedicated_cluster_connection_blocks_without_blocking_the_store() {
    crate::helpers::init_process();
    let prefix = format!("blocking:{}:", latchkey::crypto::random_token::<9>().unwrap());
    a_blocking_read_leaves_the_store_free(cluster_store(&prefix), crate::helpers::cluster::cluster_ports()).await;
}

#[tokio::test]
async fn a_dedicated_connection_to_one_server_blocks_without_blocking_the_store() {
    let url = crate::helpers::redis_url();
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    let prefix = format!("blocking:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let store = RedisStore::connect(&url, latchkey::store::Keys::new(prefix)).unwrap();
    a_blocking_read_leaves_the_store_free(store, vec![port]).await;
}
