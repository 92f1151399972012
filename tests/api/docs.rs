//! The documentation stays honest: every configuration variable, every route and every test
//! the docs name exists, and nothing exists that they leave out.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use latchkey::config::Settings;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The text between backticks, for each backticked span of `text`.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The first cell of every Markdown table row in `text`.
fn first_cells(text: &str) -> Vec<&str> {
    text.lines().filter_map(|line| line.trim().strip_prefix('|')).filter_map(|row| row.split('|').next()).collect()
}

fn is_variable_name(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Differences between two sets, for a failure message.
fn differences(what: &str, expected: &BTreeSet<String>, found: &BTreeSet<String>) -> String {
    let missing: Vec<_> = expected.difference(found).collect();
    let extra: Vec<_> = found.difference(expected).collect();
    format!("{what}:\n  missing: {missing:?}\n  not read by the service: {extra:?}")
}

// ---------------------------------------------------------------------------------------------
// Configuration variables

/// Variables the service reads outside `Settings::from_lookup`, each documented like the
/// others, with the source text that reads it. Not configuration, so not listed: `USER` and
/// `LOGNAME` (who ran a `latchkey store …` command, for its audit event) and the test suites'
/// own `LATCHKEY_TEST_*`, `LATCHKEY_E2E*`, `LATCHKEY_OPENID_CLIENT` and `TEST_LOG`.
const READ_OUTSIDE_THE_CONFIG: &[(&str, &str)] = &[
    // The log filter: `EnvFilter` reads `RUST_LOG`.
    ("RUST_LOG", "EnvFilter::try_from_default_env"),
];

/// The variable names `Settings::from_lookup` asks for when given `vars`.
fn variables_asked_for(vars: &[(&str, &str)]) -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let _ = Settings::from_lookup(|name| {
        asked.borrow_mut().insert(name.to_owned());
        vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    });
    asked.into_inner()
}

/// Every variable the configuration reads: with nothing set, and with the settings that make
/// it read the conditional ones (production's `SMTP_URL`, and `SMTP_CA_FILE` once it is set;
/// `REDIS_PRIVATE_NETWORK` with a Redis
/// URL; the `TWILIO_*` variables with `SMS_PROVIDER=twilio`; `MAIL_DIR` with file mail; the
/// Sentinel settings).
fn variables_read() -> BTreeSet<String> {
    let passes: &[&[(&str, &str)]] = &[
        &[],
        &[
            ("APP_ENV", "production"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("SMS_PROVIDER", "twilio"),
            ("SMTP_URL", "smtps://smtp.example.com"),
        ],
        &[("MAIL_TRANSPORT", "file"), ("REDIS_CLUSTER_URLS", "redis://127.0.0.1:7000")],
        &[("REDIS_SENTINEL_URLS", "redis://127.0.0.1:26379"), ("REDIS_SENTINEL_MASTER", "mymaster")],
    ];
    let mut read: BTreeSet<String> = passes.iter().flat_map(|vars| variables_asked_for(vars)).collect();
    read.extend(READ_OUTSIDE_THE_CONFIG.iter().map(|(name, _)| (*name).to_owned()));
    read
}

#[test]
fn the_variables_read_outside_the_config_are_still_read_there() {
    let source: String = rust_files(&root().join("src")).iter().map(|p| read_path(p)).collect();
    for (name, reader) in READ_OUTSIDE_THE_CONFIG {
        assert!(source.contains(reader), "{name}: `{reader}` is no longer in src/; update READ_OUTSIDE_THE_CONFIG");
    }
}

fn read_path(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn every_variable_the_service_reads_is_in_the_configuration_table_and_no_other() {
    let asked = variables_read();
    assert!(asked.contains("APP_ENV") && asked.contains("TWILIO_ACCOUNT_SID") && asked.contains("MAIL_DIR"));
    let documented: BTreeSet<String> = first_cells(&read("docs/configuration.md"))
        .into_iter()
        .flat_map(backticked)
        .filter(|s| is_variable_name(s))
        .map(str::to_owned)
        .collect();
    assert_eq!(asked, documented, "{}", differences("docs/configuration.md's variable table", &asked, &documented));
}

#[test]
fn every_variable_the_service_reads_is_in_env_example_and_no_other() {
    let asked = variables_read();
    let listed: BTreeSet<String> = read_file_lines(".env.example")
        .iter()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix('#').unwrap_or(line);
            let (name, _) = line.split_once('=')?;
            is_variable_name(name).then(|| name.to_owned())
        })
        .collect();
    assert_eq!(asked, listed, "{}", differences(".env.example's NAME= lines", &asked, &listed));
}

fn read_file_lines(relative: &str) -> Vec<String> {
    read(relative).lines().map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------------------------
// Routes

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];

/// `METHOD /path` for every `.route("<path>", web::<method>()` under `src/`.
fn routes_in_the_source() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for file in rust_files(&root().join("src")) {
        let text = read_path(&file);
        for rest in text.split(".route(\"").skip(1) {
            let Some((path, after)) = rest.split_once('"') else { continue };
            let after = after.trim_start().trim_start_matches(',').trim_start();
            let Some(method) = after.strip_prefix("web::").and_then(|m| m.split_once('(')).map(|(m, _)| m) else {
                continue;
            };
            routes.insert(format!("{} {path}", method.to_ascii_uppercase()));
        }
    }
    routes
}

/// `METHOD /path` for every table row of docs/http-api.md whose first cell names a route.
fn routes_in_the_docs() -> BTreeSet<String> {
    first_cells(&read("docs/http-api.md"))
        .into_iter()
        .flat_map(backticked)
        .filter(|s| s.split_once(' ').is_some_and(|(m, p)| METHODS.contains(&m) && p.starts_with('/')))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_route_of_the_route_table_is_in_the_http_api_document() {
    let source = routes_in_the_source();
    assert!(source.contains("GET /login") && source.contains("PUT /api/v1/admin/policy"), "{source:?}");
    let documented = routes_in_the_docs();
    let missing: Vec<_> = source.difference(&documented).collect();
    assert!(missing.is_empty(), "routes missing from docs/http-api.md: {missing:?}");
}

#[test]
fn the_http_api_document_lists_no_route_that_does_not_exist() {
    let source = routes_in_the_source();
    let extra: Vec<_> = routes_in_the_docs().into_iter().filter(|r| !source.contains(r)).collect();
    assert!(extra.is_empty(), "docs/http-api.md lists routes the route table does not have: {extra:?}");
}

// ---------------------------------------------------------------------------------------------
// Tests named in docs/security.md

/// The names of the test functions in `text`: an `fn` right after an attribute that names a
/// test (`#[test]`, `#[tokio::test]` …).
fn test_functions(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut after_test_attribute = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with("#[") {
            after_test_attribute |= line.contains("test") && !line.starts_with("#[cfg(");
        } else if line.is_empty() || line.starts_with("//") {
        } else {
            if after_test_attribute {
                let name = line.split("fn ").nth(1).and_then(|rest| rest.split(['(', '<']).next());
                if let Some(name) = name {
                    names.insert(name.trim().to_owned());
                }
            }
            after_test_attribute = false;
        }
    }
    names
}

/// The modules a `contract!` macro generates in `text` (`memory`, `redis` …) and the names it
/// generates in each.
fn contract_suites(text: &str) -> Option<(Vec<String>, Vec<String>)> {
    let (_, body) = text.split_once("macro_rules! contract")?;
    let (body, invocation) = body.split_once("\ncontract!(")?;
    let modules = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix('{').map(|m| m.trim().to_owned()))
        .collect();
    let (list, _) = invocation.split_once(");")?;
    let names = list.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    Some((modules, names))
}

/// Every integration test by module path (`links`, `store_contract::memory`, `e2e::signin`):
/// its test names.
fn integration_tests() -> BTreeMap<String, BTreeSet<String>> {
    let mut index = BTreeMap::new();
    for (dir, prefix) in [("tests/api", ""), ("tests/e2e", "e2e::")] {
        for file in std::fs::read_dir(root().join(dir)).expect("the test folder").map(|e| e.expect("entry").path()) {
            let Some(stem) = file.file_stem().and_then(|s| s.to_str()).filter(|_| file.is_file()) else { continue };
            let text = read_path(&file);
            index.insert(format!("{prefix}{stem}"), test_functions(&text));
            if let Some((modules, names)) = contract_suites(&text) {
                for module in modules {
                    index.insert(format!("{prefix}{stem}::{module}"), names.iter().cloned().collect());
                }
            }
        }
    }
    index
}

/// The unit tests of `src/<module path>.rs` (or `…/mod.rs`), if that file exists.
fn unit_tests(module: &[&str]) -> Option<BTreeSet<String>> {
    let base = root().join("src").join(module.join("/"));
    [base.with_extension("rs"), base.join("mod.rs")]
        .iter()
        .find(|p| p.is_file())
        .map(|p| read_path(p))
        .filter(|text| text.contains("mod tests"))
        .map(|text| test_functions(&text))
}

/// A backticked test path: `module::name`, `module::{a,b}::name`, `module::*`.
fn is_test_path(s: &str) -> bool {
    s.contains("::")
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_:{},*".contains(c))
}

/// `a::{b,c}::d` → `a::b::d`, `a::c::d`.
fn expand(path: &str) -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    for segment in path.split("::") {
        let choices: Vec<&str> = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(list) => list.split(',').map(str::trim).collect(),
            None => vec![segment],
        };
        paths = paths
            .into_iter()
            .flat_map(|p: Vec<String>| {
                choices.iter().map(move |c| {
                    let mut p = p.clone();
                    p.push((*c).to_owned());
                    p
                })
            })
            .collect();
    }
    paths
}

/// True when `path` (segments) names a test that exists.
fn test_exists(path: &[String], integration: &BTreeMap<String, BTreeSet<String>>) -> bool {
    let Some((name, module)) = path.split_last() else { return false };
    let found = |tests: &BTreeSet<String>| if name == "*" { !tests.is_empty() } else { tests.contains(name) };
    // A unit test: `<module path>::tests::<name>` in `src/`.
    if module.last().is_some_and(|m| m == "tests") {
        let module: Vec<&str> = module[..module.len() - 1].iter().map(String::as_str).collect();
        return unit_tests(&module).is_some_and(|tests| found(&tests));
    }
    integration.get(&module.join("::")).is_some_and(found)
}

#[test]
fn every_test_the_security_document_names_exists() {
    let integration = integration_tests();
    assert!(integration.get("store_contract::redis").is_some_and(|t| t.contains("ping_answers")));
    let security = read("docs/security.md");
    let named: BTreeSet<&str> = backticked(&security).into_iter().filter(|s| is_test_path(s)).collect();
    assert!(named.len() > 100, "docs/security.md names only {} tests", named.len());
    let missing: Vec<String> = named
        .iter()
        .flat_map(|p| expand(p))
        .filter(|path| !test_exists(path, &integration))
        .map(|path| path.join("::"))
        .collect();
    assert!(missing.is_empty(), "docs/security.md names tests that do not exist:\n  {}", missing.join("\n  "));
}

#[test]
fn the_test_index_tells_a_real_test_from_a_made_up_one() {
    let integration = integration_tests();
    let exists = |p: &str| expand(p).iter().all(|path| test_exists(path, &integration));
    assert!(exists("links::the_raw_token_is_nowhere_in_redis"));
    assert!(exists("store_contract::{memory,redis}::concurrent_redemptions_yield_exactly_one"));
    assert!(exists("crypto::tests::debug_redacts"));
    assert!(exists("second_factor_sms::*"));
    assert!(!exists("links::a_test_nobody_wrote"));
    assert!(!exists("store_contract::{memory,nowhere}::concurrent_redemptions_yield_exactly_one"));
    assert!(!exists("crypto::tests::a_test_nobody_wrote"));
    assert!(!exists("links::no_such_module::nothing"));
}
