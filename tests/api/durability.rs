//! Production refuses a Redis that can lose data: without the append-only file (synced every
//! second or always) or with an evicting memory policy, on real redis-server processes; and it
//! starts on one run with `deploy/redis.conf`, the configuration the operations docs give.

use std::path::PathBuf;

use latchkey::{Application, Settings};
use reqwest::StatusCode;

use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{TestApp, captured_logs, init_process, spawn_app_with};

fn deploy_conf() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/redis.conf")
}

/// A folder of its own for one server's files.
fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latchkey-redis-{}", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds (does not run) a production instance on `redis`, with `extra` settings.
async fn build_production(redis: &RedisProcess, extra: &[(&str, &str)]) -> anyhow::Result<Application> {
    let mut vars = vec![("REDIS_URL", redis.url())];
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    build_production_with(&vars).await
}

/// Builds (does not run) a production instance with `extra` settings (the store among them).
async fn build_production_with(extra: &[(&str, &str)]) -> anyhow::Result<Application> {
    init_process();
    let (key, _) = crate::helpers::jwt_key_file();
    let mut vars: std::collections::HashMap<String, String> = [
        ("APP_ENV", "production"),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("PUBLIC_URL", "https://login.example.test"),
        ("MAIL_TRANSPORT", "smtp"),
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("MAIL_FROM", "Latchkey Test <login@example.test>"),
        ("SECRET_KEY", "test-secret-key-test-secret-key-test-secret-key"),
        ("STORE_ID", "st_ZHVyYWJpbGl0eS10ZXN0cw"),
        ("JWT_KEYS", &key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings invalid");
    Application::build(settings).await
}

#[tokio::test]
async fn a_production_instance_starts_on_redis_run_with_the_deploy_configuration() {
    let dir = data_dir();
    let redis = RedisProcess::start_with(Some(&deploy_conf()), &format!("--dir '{}'", dir.display())).await;
    let (key, _) = crate::helpers::jwt_key_file();
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("JWT_KEYS", &key),
        ("REDIS_URL", &redis.url()),
        ("REDIS_DURABILITY", "check"),
    ])
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["store"], "trusted");
    // What it wrote is on disk, in the append-only file.
    assert!(dir.join("appendonlydir").is_dir(), "no append-only file in {}", dir.display());
}

#[tokio::test]
async fn production_refuses_a_redis_that_can_lose_data_naming_each_setting_and_its_fix() {
    let redis =
        RedisProcess::start_with(None, "--save '' --appendonly no --appendfsync no --maxmemory-policy allkeys-lru")
            .await;
    let err = build_production(&redis, &[]).await.err().expect("production started on a Redis that can lose data");
    let message = format!("{err:#}");
    for fix in ["appendonly yes", "appendfsync everysec", "maxmemory-policy noeviction", "deploy/redis.conf"] {
        assert!(message.contains(fix), "`{fix}` not named in:\n{message}");
    }
    assert!(message.starts_with("latchkey cannot start"), "{message}");
}

#[tokio::test]
async fn production_refuses_an_evicting_redis_even_with_aof_on() {
    let dir = data_dir();
    let args = format!("--dir '{}' --maxmemory-policy volatile-lru", dir.display());
    let redis = RedisProcess::start_with(Some(&deploy_conf()), &args).await;
    let message = format!("{:#}", build_production(&redis, &[]).await.err().expect("an evicting Redis accepted"));
    assert!(message.contains("maxmemory-policy") && message.contains("volatile-lru"), "{message}");
    assert!(!message.contains("appendonly"), "AOF is on, yet named: {message}");
}

const ADMIN_TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

/// `GET /readyz` with the admin token.
async fn readyz_as_admin(app: &TestApp) -> serde_json::Value {
    let request = app.client.get(format!("{}/readyz", app.address)).bearer_auth(ADMIN_TOKEN);
    request.send().await.unwrap().json().await.unwrap()
}

/// Polls `/readyz` (bounded: past the durability check's reuse) until its `store` is `state`.
async fn until_readyz_says(app: &TestApp, state: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + latchkey::store::DURABILITY_RECHECK + std::time::Duration::from_secs(10);
    loop {
        let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
        if body["store"] == state {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "readyz never said {state}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A production instance on Redis run with `deploy/redis.conf`, with an admin token.
async fn spawn_production_on_deploy_conf() -> (RedisProcess, TestApp) {
    let dir = data_dir();
    let redis = RedisProcess::start_with(Some(&deploy_conf()), &format!("--dir '{}'", dir.display())).await;
    let (key, _) = crate::helpers::jwt_key_file();
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("JWT_KEYS", &key),
        ("REDIS_URL", &redis.url()),
        ("REDIS_DURABILITY", "check"),
        ("ADMIN_API_TOKEN", ADMIN_TOKEN),
    ])
    .await;
    (redis, app)
}

#[tokio::test]
async fn readyz_names_a_setting_changed_at_run_time_and_managed_redis_is_taken_on_the_operators_word() {
    let (redis, app) = spawn_production_on_deploy_conf().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let mut conn = redis.connection().await;
    let _: () = ::redis::cmd("CONFIG").arg("SET").arg("appendonly").arg("no").query_async(&mut conn).await.unwrap();
    until_readyz_says(&app, "not_durable").await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The operator, with the admin token, reads which setting of which node.
    let body = readyz_as_admin(&app).await;
    assert_eq!(body["store"], "not_durable", "{body}");
    assert!(body["problems"].to_string().contains("appendonly yes"), "{body}");

    // A managed Redis that refuses CONFIG GET: the operator declares it, and every start says so.
    let plain = RedisProcess::start().await;
    build_production(&plain, &[("REDIS_DURABILITY", "managed")]).await.expect("REDIS_DURABILITY=managed refused");
    assert!(captured_logs().contains("REDIS_DURABILITY=managed: Redis persistence and eviction are not checked"));
}

/// `CONFIG` calls the server on `redis` has answered (`INFO commandstats`: `cmdstat_config`,
/// or `cmdstat_config|get` per subcommand on Redis 7).
async fn config_calls(redis: &RedisProcess) -> u64 {
    let mut conn = redis.connection().await;
    let stats: String = ::redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.unwrap();
    stats
        .lines()
        .filter(|line| line.starts_with("cmdstat_config"))
        .filter_map(|line| line.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_burst_of_readyz_costs_redis_one_durability_check_and_strangers_see_no_node_or_setting() {
    let (redis, app) = spawn_production_on_deploy_conf().await;
    let before = config_calls(&redis).await;
    let burst: Vec<_> = (0..100)
        .map(|_| app.client.get(format!("{}/readyz", app.address)))
        .map(|request| tokio::spawn(async move { request.send().await.unwrap().status() }))
        .collect();
    let mut statuses = Vec::new();
    for request in burst {
        statuses.push(request.await.unwrap());
    }
    let after = config_calls(&redis).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "not every readyz answered 200: {statuses:?}");
    assert!(after - before <= 2, "100 concurrent /readyz made {} CONFIG calls", after - before);

    // Redis can lose data: anyone learns that it is not ready, not which node or setting.
    let mut conn = redis.connection().await;
    let _: () = ::redis::cmd("CONFIG").arg("SET").arg("appendonly").arg("no").query_async(&mut conn).await.unwrap();
    let body = until_readyz_says(&app, "not_durable").await;
    assert!(body.get("problems").is_none(), "{body}");
    let text = body.to_string();
    for detail in ["appendonly", "server", "127.0.0.1", &redis.url()] {
        assert!(!text.contains(detail), "`{detail}` in an unauthenticated readyz: {text}");
    }
    let wrong = app.client.get(format!("{}/readyz", app.address)).bearer_auth("not-the-admin-token");
    let wrong: serde_json::Value = wrong.send().await.unwrap().json().await.unwrap();
    assert!(wrong.get("problems").is_none(), "a wrong token was shown the problems: {wrong}");
    assert!(readyz_as_admin(&app).await["problems"].to_string().contains("appendonly on server"));
    assert!(captured_logs().contains("appendonly on server"), "the log does not name the setting and node");
}

#[tokio::test]
async fn production_asks_every_node_of_a_cluster() {
    let urls = crate::helpers::cluster_urls().join(",");
    // The test cluster's nodes keep nothing on disk.
    let err = build_production_with(&[("REDIS_CLUSTER_URLS", &urls)]).await.err().expect("a volatile cluster accepted");
    let message = format!("{err:#}");
    let nodes = message.lines().filter(|l| l.contains("appendonly on 127.0.0.1:")).count();
    assert!(nodes >= 3, "not every node was named:\n{message}");
}

#[tokio::test]
async fn a_redis_that_refuses_config_get_stops_production_until_the_operator_declares_it_managed() {
    // An ACL user without CONFIG, as managed Redis services give.
    let redis = RedisProcess::start_with(
        None,
        "--save '' --appendonly no --user latchkey on '>pw' '~*' '&*' '+@all' '-config'",
    )
    .await;
    let url = redis.url().replacen("redis://", "redis://latchkey:pw@", 1);
    let err = build_production_with(&[("REDIS_URL", &url)]).await.err().expect("an unchecked Redis accepted");
    let message = format!("{err:#}");
    assert!(message.contains("CONFIG GET") && message.contains("REDIS_DURABILITY=managed"), "{message}");
    assert!(!message.contains("pw@"), "the Redis password reached the message: {message}");
    build_production_with(&[("REDIS_URL", &url), ("REDIS_DURABILITY", "managed")])
        .await
        .expect("a declared managed Redis refused");
}

#[tokio::test]
async fn a_production_instance_started_while_redis_is_down_checks_it_in_readyz_once_it_answers() {
    let mut redis = RedisProcess::start().await;
    redis.stop().await;
    let (key, _) = crate::helpers::jwt_key_file();
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("JWT_KEYS", &key),
        ("REDIS_URL", &redis.url()),
        ("REDIS_DURABILITY", "check"),
        ("STORE_ID", "st_c3RhcnRlZC13aGlsZS1kb3du"),
        ("ADMIN_API_TOKEN", ADMIN_TOKEN),
    ])
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["store"], "unreachable");
    // It comes up without AOF: not ready, and why.
    redis.start_again().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let body = readyz_as_admin(&app).await;
        if body["store"] == "not_durable" {
            assert!(body["problems"].to_string().contains("appendonly yes"), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "readyz never named the missing AOF: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
