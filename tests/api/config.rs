//! Start-up validation: production refuses every missing or unsafe setting, naming each.

use std::collections::HashMap;

use latchkey::Settings;
use latchkey::config::ConfigError;

fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Settings::from_lookup(|k| map.get(k).cloned())
}

fn key_file() -> String {
    let path =
        std::env::temp_dir().join(format!("latchkey-key-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&path, latchkey::session::SigningKey::generate_pem().unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

fn production(overrides: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = vec![
        ("APP_ENV", "production".into()),
        ("PUBLIC_URL", "https://login.example.com".into()),
        ("REDIS_URL", "redis://127.0.0.1:6379".into()),
        ("STORE_ID", "st_Zm9yLXRoZS1jb25maWctdGVzdHM".into()),
        ("MAIL_TRANSPORT", "smtp".into()),
        ("SMTP_URL", "smtps://user:pass@smtp.example.com".into()),
        ("MAIL_FROM", "Example <login@example.com>".into()),
        ("SECRET_KEY", "0123456789abcdef0123456789abcdef".into()),
        ("JWT_KEYS", key_file()),
    ];
    for (k, v) in overrides {
        vars.retain(|(name, _)| name != k);
        if !v.is_empty() {
            vars.push((k, (*v).to_owned()));
        }
    }
    vars
}

fn load_owned(vars: &[(&'static str, String)]) -> Result<Settings, ConfigError> {
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    load(&pairs)
}

#[test]
fn a_complete_production_configuration_starts() {
    let rsa = pem_file(&latchkey::session::SigningKey::generate_rsa_pem().unwrap());
    let keys = format!("{},{rsa}", key_file());
    let settings = load_owned(&production(&[("JWT_KEYS", &keys)])).expect("valid production settings refused");
    assert!(settings.is_production());
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    // Ed25519 keys alone still start (as before RSA keys existed), with a warning.
    let settings = load_owned(&production(&[])).expect("Ed25519 keys alone refused");
    assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
    assert!(settings.warnings[0].contains("`latchkey keygen --rsa`"), "{:?}", settings.warnings);
}

#[test]
fn production_with_nothing_set_lists_every_missing_setting_at_once() {
    let err = load(&[("APP_ENV", "production")]).expect_err("production started with nothing set");
    for var in ["PUBLIC_URL", "REDIS_URL", "SMTP_URL", "MAIL_FROM", "SECRET_KEY", "JWT_KEYS"] {
        assert!(err.mentions(var), "{var} not named in:\n{err}");
    }
    let message = err.to_string();
    assert!(message.contains("latchkey secret") && message.contains("latchkey keygen"), "{message}");
}

#[test]
fn each_unsafe_production_setting_is_named() {
    let cases: &[(&'static str, &str)] = &[
        ("PUBLIC_URL", "http://login.example.com"),
        ("PUBLIC_URL", "https://login.example.com/auth"),
        ("REDIS_URL", ""),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("MAIL_TRANSPORT", "log"),
        ("MAIL_TRANSPORT", "file"),
        ("SMTP_URL", "smtp://smtp.example.com:25"),
        ("SMTP_URL", ""),
        ("MAIL_FROM", "not an address"),
        ("SECRET_KEY", "too-short"),
        ("SECRET_KEY", ""),
        ("JWT_KEYS", "/nonexistent/key.pem"),
        ("JWT_KEYS", ""),
        ("LINK_TTL", "forever"),
        ("SESSION_TTL", "0s"),
        ("TRUSTED_PROXIES", "not-an-ip"),
        ("APP_ENV", "prod"),
        ("SMS_PROVIDER", "log"),
        ("SECOND_FACTOR", "sometimes"),
        ("ADMIN_EMAILS", "not-an-address"),
        ("RATE_LIMIT_SMS_NUMBER", "lots"),
    ];
    for (var, value) in cases {
        let vars = production(&[(var, value)]);
        let err = load_owned(&vars).err().unwrap_or_else(|| panic!("{var}={value:?} was accepted"));
        assert!(err.mentions(var), "{var}={value:?} not named in:\n{err}");
    }
}

#[test]
fn a_jwt_key_file_that_is_not_ed25519_is_refused() {
    let path = std::env::temp_dir().join("latchkey-not-a-key.pem");
    std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    let err = load(&[("JWT_KEYS", path.to_str().unwrap())]).expect_err("bad key accepted");
    assert!(err.mentions("JWT_KEYS"));
}

#[test]
fn jwt_keys_takes_several_comma_separated_files_with_the_first_signing() {
    let (old, new) = (key_file(), key_file());
    let settings = load(&[("JWT_KEYS", &format!("{new}, {old}"))]).expect("two keys refused");
    let kid = |path: &str| {
        latchkey::session::SigningKey::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap().kid().to_owned()
    };
    assert_eq!(settings.jwt_keys.signing().kid(), kid(&new));
    assert!(
        settings.jwt_keys.find(&kid(&old), latchkey::session::SigningAlg::EdDsa).is_some(),
        "the second key does not verify"
    );
}

#[test]
fn jwt_keys_listing_one_key_twice_or_no_file_is_refused() {
    let key = key_file();
    let copy =
        std::env::temp_dir().join(format!("latchkey-copy-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::copy(&key, &copy).unwrap();
    let err = load(&[("JWT_KEYS", &format!("{},{key}", copy.display()))]).expect_err("one key twice accepted");
    assert!(err.mentions("JWT_KEYS") && err.to_string().contains("same key"), "{err}");
    let err = load(&[("JWT_KEYS", " , ")]).expect_err("a list of no files accepted");
    assert!(err.mentions("JWT_KEYS") && err.to_string().contains("names no key file"), "{err}");
}

#[test]
fn plaintext_smtp_to_another_host_is_refused_even_in_development() {
    let err = load(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "smtp://mail.example.com:25")]).err().unwrap();
    assert!(err.mentions("SMTP_URL"));
    assert!(load(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "smtp://127.0.0.1:2525")]).is_ok());
}

#[test]
fn a_cluster_is_chosen_with_redis_cluster_urls_and_never_together_with_redis_url() {
    let settings = load_owned(&production(&[
        ("REDIS_URL", ""),
        ("REDIS_CLUSTER_URLS", "redis://10.0.0.1:7000, redis://10.0.0.2:7000,redis://10.0.0.3:7000"),
        ("REDIS_PRIVATE_NETWORK", "true"),
    ]))
    .expect("a cluster configuration was refused");
    match settings.store {
        latchkey::config::StoreSettings::Cluster { urls, ca_pem } => {
            assert_eq!(urls.len(), 3);
            assert!(ca_pem.is_none());
        }
        other => panic!("expected a cluster, got {other:?}"),
    }
    let err = load_owned(&production(&[("REDIS_CLUSTER_URLS", "redis://10.0.0.1:7000")]))
        .expect_err("REDIS_URL and REDIS_CLUSTER_URLS together were accepted");
    assert!(err.mentions("REDIS_CLUSTER_URLS"), "{err}");
    let err = load_owned(&production(&[("REDIS_URL", "")])).expect_err("production started without a store");
    let message = err.to_string();
    assert!(message.contains("REDIS_URL") && message.contains("REDIS_CLUSTER_URLS"), "{message}");
}

#[test]
fn redis_urls_must_be_redis_or_rediss_alike_and_their_passwords_stay_out_of_messages() {
    for bad in ["http://10.0.0.1:7000", "redis://u:hunter2@10.0.0.1:7000,rediss://u:hunter2@10.0.0.2:7000", " , "] {
        let err = load_owned(&production(&[("REDIS_URL", ""), ("REDIS_CLUSTER_URLS", bad)]))
            .expect_err(&format!("{bad:?} was accepted"));
        assert!(err.mentions("REDIS_CLUSTER_URLS"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "a password reached the message: {err}");
    }
    let err = load_owned(&production(&[("REDIS_URL", "tcp://u:hunter2@10.0.0.1")])).expect_err("tcp:// accepted");
    assert!(err.mentions("REDIS_URL") && !err.to_string().contains("hunter2"), "{err}");
    let settings = load_owned(&production(&[("REDIS_URL", "rediss://:hunter2@redis.example.com:6380")])).unwrap();
    assert!(!format!("{settings:?}").contains("hunter2"), "a password reached Debug output");
}

#[test]
fn a_private_ca_is_read_for_rediss_only() {
    let dir = std::env::temp_dir();
    let missing = dir.join("latchkey-no-such-ca.pem").to_string_lossy().into_owned();
    let err = load_owned(&production(&[("REDIS_URL", "rediss://redis.example.com"), ("REDIS_CA_FILE", &missing)]))
        .expect_err("an unreadable CA file was accepted");
    assert!(err.mentions("REDIS_CA_FILE"), "{err}");
    let not_pem = dir.join(format!("latchkey-not-a-ca-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&not_pem, "hello").unwrap();
    let not_pem = not_pem.to_string_lossy().into_owned();
    let err = load_owned(&production(&[("REDIS_URL", "rediss://redis.example.com"), ("REDIS_CA_FILE", &not_pem)]))
        .expect_err("a file with no certificate was accepted as a CA");
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    let ca = crate::helpers::tls::tls_redis().ca_file.to_string_lossy().into_owned();
    let err = load_owned(&production(&[("REDIS_CA_FILE", &ca)])).expect_err("a CA for plaintext redis:// accepted");
    assert!(err.mentions("REDIS_CA_FILE"), "{err}");
    let settings = load_owned(&production(&[
        ("REDIS_URL", ""),
        ("REDIS_CLUSTER_URLS", "rediss://10.0.0.1:7000,rediss://10.0.0.2:7000"),
        ("REDIS_CA_FILE", &ca),
    ]))
    .expect("a TLS cluster with a private CA was refused");
    assert!(matches!(settings.store, latchkey::config::StoreSettings::Cluster { ca_pem: Some(_), .. }));
}

#[test]
fn a_private_ca_for_the_smtp_relay_is_read_for_tls_urls_only() {
    let missing = std::env::temp_dir().join("latchkey-no-such-smtp-ca.pem").to_string_lossy().into_owned();
    let err = load_owned(&production(&[("SMTP_CA_FILE", &missing)])).expect_err("an unreadable CA file was accepted");
    assert!(err.mentions("SMTP_CA_FILE"), "{err}");
    let ca = crate::helpers::tls::test_certificates().dir.join("ca.crt").to_string_lossy().into_owned();
    let plain = [("SMTP_URL", "smtp://127.0.0.1:2525"), ("SMTP_CA_FILE", ca.as_str())];
    let err = load_owned(&production(&plain)).expect_err("a CA for plaintext SMTP accepted");
    assert!(err.mentions("SMTP_CA_FILE"), "{err}");
    let settings =
        load_owned(&production(&[("SMTP_CA_FILE", &ca)])).expect("a TLS relay with a private CA was refused");
    assert!(matches!(settings.mail_transport, latchkey::config::MailTransport::Smtp { ca_pem: Some(_), .. }));
}

#[test]
fn a_key_prefix_with_braces_is_refused() {
    let err = load_owned(&production(&[("REDIS_KEY_PREFIX", "{app}:")])).expect_err("braces accepted");
    assert!(err.mentions("REDIS_KEY_PREFIX"), "{err}");
}

#[test]
fn an_admin_webhook_needs_a_public_https_url_and_a_long_secret_in_production() {
    let secret = "admin-hook-secret-admin-hook-secret-0123";
    let ok = production(&[("ADMIN_WEBHOOK_URL", "https://ops.example.com/latchkey"), ("ADMIN_WEBHOOK_SECRET", secret)]);
    let settings = load_owned(&ok).expect("a good admin webhook refused");
    let hook = settings.admin_webhook.expect("admin webhook not read");
    assert!(!format!("{hook:?}").contains(secret), "the secret shows in Debug");
    let err = load_owned(&production(&[
        ("ADMIN_WEBHOOK_URL", "http://10.0.0.5/hook"),
        ("ADMIN_WEBHOOK_SECRET", "short"),
        ("RATE_LIMIT_SMS_ACCOUNT", "five"),
        ("RATE_LIMIT_SMS_GLOBAL", "200"),
    ]))
    .expect_err("an internal http webhook and a short secret were accepted");
    for var in ["ADMIN_WEBHOOK_URL", "ADMIN_WEBHOOK_SECRET", "RATE_LIMIT_SMS_ACCOUNT", "RATE_LIMIT_SMS_GLOBAL"] {
        assert!(err.mentions(var), "{var} not named in:\n{err}");
    }
    let err = load_owned(&production(&[("ADMIN_WEBHOOK_URL", "https://ops.example.com/latchkey")]))
        .expect_err("a webhook without a secret was accepted");
    assert!(err.mentions("ADMIN_WEBHOOK_SECRET"), "{err}");
}

#[test]
fn sentinels_are_chosen_with_redis_sentinel_urls_and_need_the_master_name() {
    let settings = load_owned(&production(&[
        ("REDIS_URL", ""),
        ("REDIS_SENTINEL_URLS", "redis://10.0.0.1:26379, redis://10.0.0.2:26379,redis://10.0.0.3:26379"),
        ("REDIS_SENTINEL_MASTER", "mymaster"),
        ("REDIS_WAIT_TIMEOUT", "250ms"),
    ]))
    .expect("a Sentinel configuration was refused");
    assert_eq!(settings.redis_wait_timeout, std::time::Duration::from_millis(250));
    match settings.store {
        latchkey::config::StoreSettings::Sentinel { urls, master, ca_pem } => {
            assert_eq!((urls.len(), master.as_str()), (3, "mymaster"));
            assert!(ca_pem.is_none());
        }
        other => panic!("expected Sentinels, got {other:?}"),
    }
    // Without the master's name, together with REDIS_URL, or with mixed schemes: refused,
    // naming the variable.
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("REDIS_URL", ""), ("REDIS_SENTINEL_URLS", "redis://10.0.0.1:26379")], "REDIS_SENTINEL_MASTER"),
        (&[("REDIS_SENTINEL_URLS", "redis://10.0.0.1:26379"), ("REDIS_SENTINEL_MASTER", "m")], "REDIS_SENTINEL_URLS"),
        (
            &[
                ("REDIS_URL", ""),
                ("REDIS_SENTINEL_URLS", "redis://10.0.0.1:26379,rediss://10.0.0.2:26379"),
                ("REDIS_SENTINEL_MASTER", "m"),
            ],
            "REDIS_SENTINEL_URLS",
        ),
        (&[("REDIS_SENTINEL_MASTER", "m")], "REDIS_SENTINEL_MASTER"),
    ];
    for (overrides, var) in cases {
        let err = load_owned(&production(overrides)).expect_err("a bad Sentinel configuration was accepted");
        assert!(err.mentions(var), "{var} not named: {err}");
    }
    // `WAIT 1 0` would wait for ever, and a wait must end before the store's answer timeout.
    for bad in ["0ms", "2s", "soon"] {
        let err = load_owned(&production(&[("REDIS_WAIT_TIMEOUT", bad)])).expect_err("a bad REDIS_WAIT_TIMEOUT");
        assert!(err.mentions("REDIS_WAIT_TIMEOUT"), "{err}");
    }
}

#[test]
fn production_refuses_plaintext_redis_to_another_host_unless_the_network_is_declared_private() {
    for (var, url) in [("REDIS_URL", "redis://10.0.0.1:6379"), ("REDIS_CLUSTER_URLS", "redis://redis.internal:7000")] {
        let err = load_owned(&production(&[("REDIS_URL", ""), (var, url)]))
            .expect_err(&format!("plaintext {url} accepted in production"));
        assert!(err.mentions(var) && err.to_string().contains("rediss://"), "{err}");
        assert!(err.to_string().contains("REDIS_PRIVATE_NETWORK"), "the way out is not named: {err}");
        load_owned(&production(&[("REDIS_URL", ""), (var, url), ("REDIS_PRIVATE_NETWORK", "true")]))
            .expect("a private network declared on purpose was refused");
    }
    load_owned(&production(&[("REDIS_URL", "rediss://redis.example.com:6380")])).expect("TLS to a remote host refused");
    load_owned(&production(&[("REDIS_URL", "redis://localhost:6379")])).expect("plaintext to loopback refused");
    assert!(load(&[("REDIS_URL", "redis://10.0.0.1:6379")]).is_ok(), "development refused plaintext to a host");
}

#[test]
fn production_needs_the_store_identity_and_says_how_to_make_one() {
    let err = load_owned(&production(&[("STORE_ID", "")])).expect_err("production started without STORE_ID");
    assert!(err.mentions("STORE_ID") && err.to_string().contains("latchkey store init"), "{err}");
    let err = load_owned(&production(&[("STORE_ID", "not-an-id")])).expect_err("a malformed STORE_ID accepted");
    assert!(err.mentions("STORE_ID"), "{err}");
    let err =
        load_owned(&production(&[("REDIS_DURABILITY", "trust-me")])).expect_err("a bad REDIS_DURABILITY accepted");
    assert!(err.mentions("REDIS_DURABILITY"), "{err}");
    let tools = latchkey::Settings::for_store_commands(|k| {
        production(&[("STORE_ID", "")]).into_iter().find(|(name, _)| *name == k).map(|(_, v)| v)
    });
    assert!(tools.is_ok(), "`latchkey store init` cannot run without the STORE_ID it makes: {tools:?}");
}

/// A PEM file with this text.
fn pem_file(text: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("latchkey-pem-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn jwt_keys_takes_an_rsa_key_and_refuses_a_small_one_or_one_without_an_ed25519_key() {
    use latchkey::session::{SigningAlg, SigningKey};
    use rsa::pkcs8::EncodePrivateKey;

    let rsa_pem = SigningKey::generate_rsa_pem().unwrap();
    let rsa = pem_file(&rsa_pem);
    let settings = load(&[("JWT_KEYS", &format!("{rsa},{}", key_file()))]).expect("an RSA key refused");
    let rsa_kid = SigningKey::from_pem(&rsa_pem).unwrap().kid().to_owned();
    assert_eq!(settings.jwt_keys.signing_for(SigningAlg::Rs256).unwrap().kid(), rsa_kid);
    assert_eq!(settings.jwt_keys.signing().alg(), SigningAlg::EdDsa, "sessions are signed with Ed25519 only");

    let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let small = pem_file(&small.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap());
    let err = load(&[("JWT_KEYS", &format!("{},{small}", key_file()))]).expect_err("RSA-1024 accepted");
    assert!(err.mentions("JWT_KEYS") && err.to_string().contains("1024 bits is too small"), "{err}");

    let err = load(&[("JWT_KEYS", &rsa)]).expect_err("no Ed25519 key accepted");
    assert!(err.mentions("JWT_KEYS") && err.to_string().contains("holds no Ed25519 key"), "{err}");
}

#[test]
fn a_client_asking_for_rs256_without_an_rsa_key_is_a_problem_of_jwt_keys() {
    let clients = pem_file(
        "[[client]]\nclient_id = \"legacy\"\nredirect_uris = [\"http://127.0.0.1:9000/cb\"]\ntype = \"public\"\nid_token_signed_response_alg = \"RS256\"\n",
    );
    let err = load(&[("JWT_KEYS", &key_file()), ("CLIENTS_FILE", &clients)]).expect_err("RS256 without a key accepted");
    assert!(err.mentions("JWT_KEYS") && err.to_string().contains("client `legacy` asks for RS256"), "{err}");
    let settings = load(&[("CLIENTS_FILE", &clients)]).expect("development makes an RSA key");
    assert_eq!(settings.clients.find("legacy").unwrap().id_token_signed_response_alg.as_str(), "RS256");
}
