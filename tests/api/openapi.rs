//! The OpenAPI description at `/api/v1/openapi.json`: a well-formed OpenAPI 3.1 document, the
//! same as `docs/openapi.json`, naming exactly the `/api/v1/…` routes of the route table, and
//! true to what those routes answer.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
const DOCS_COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
const REWRITE: &str = "LATCHKEY_WRITE_OPENAPI=1 cargo test --test api openapi::";
const OPERATIONS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

async fn spawn(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// The document as the server serves it.
pub(crate) async fn served(app: &TestApp) -> Value {
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    response.json().await.unwrap()
}

/// What a `$ref` points at (`#/components/…`); a reference that resolves nowhere fails.
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("{reference} leaves the document"));
    doc.pointer(pointer).unwrap_or_else(|| panic!("{reference} resolves to nothing"))
}

/// `value`, or what it refers to.
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => deref(doc, resolve(doc, reference)),
        None => value,
    }
}

// ---- Structure ---------------------------------------------------------------------------

fn check_refs(doc: &Value, value: &Value, at: &str) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                if key == "$ref" {
                    let reference = item.as_str().unwrap_or_else(|| panic!("{at}: $ref is not a string"));
                    resolve(doc, reference);
                } else {
                    check_refs(doc, item, &format!("{at}/{key}"));
                }
            }
        }
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, item)| check_refs(doc, item, &format!("{at}/{i}")))
        }
        _ => {}
    }
}

/// A Schema Object as JSON Schema 2020-12 (OpenAPI 3.1's dialect) allows it, for the keywords
/// this document uses.
fn check_schema(schema: &Value, at: &str) {
    const TYPES: [&str; 7] = ["null", "boolean", "object", "array", "number", "string", "integer"];
    if schema.is_boolean() {
        return;
    }
    let schema = schema.as_object().unwrap_or_else(|| panic!("{at}: a schema is an object or a boolean"));
    match schema.get("type") {
        None => {}
        Some(Value::String(t)) => assert!(TYPES.contains(&t.as_str()), "{at}: unknown type {t}"),
        Some(Value::Array(ts)) => {
            assert!(!ts.is_empty(), "{at}: empty type list");
            let names: BTreeSet<&str> = ts.iter().map(|t| t.as_str().expect("type names are strings")).collect();
            assert_eq!(names.len(), ts.len(), "{at}: repeated type");
            assert!(names.iter().all(|t| TYPES.contains(t)), "{at}: unknown type in {ts:?}");
        }
        Some(other) => panic!("{at}: type {other}"),
    }
    if let Some(properties) = schema.get("properties") {
        let properties = properties.as_object().unwrap_or_else(|| panic!("{at}: properties is not an object"));
        for (name, property) in properties {
            check_schema(property, &format!("{at}.{name}"));
        }
    }
    if let Some(required) = schema.get("required") {
        let required = required.as_array().unwrap_or_else(|| panic!("{at}: required is not an array"));
        let names: BTreeSet<&str> = required.iter().map(|r| r.as_str().expect("required names are strings")).collect();
        assert_eq!(names.len(), required.len(), "{at}: a property required twice");
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for name in names {
                assert!(properties.contains_key(name), "{at}: requires `{name}`, which it does not describe");
            }
        }
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(sub) = schema.get(keyword) {
            check_schema(sub, &format!("{at}/{keyword}"));
        }
    }
    for keyword in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema.get(keyword) {
            let list = list.as_array().unwrap_or_else(|| panic!("{at}: {keyword} is not an array"));
            assert!(!list.is_empty(), "{at}: empty {keyword}");
            list.iter().enumerate().for_each(|(i, sub)| check_schema(sub, &format!("{at}/{keyword}/{i}")));
        }
    }
    if let Some(values) = schema.get("enum") {
        assert!(values.as_array().is_some_and(|v| !v.is_empty()), "{at}: enum is not a non-empty array");
    }
    if let Some(reference) = schema.get("$ref") {
        assert!(reference.is_string(), "{at}: $ref is not a string");
    }
}

/// The schemas under a `content` map.
fn check_content(content: &Value, at: &str) {
    let content = content.as_object().unwrap_or_else(|| panic!("{at}: content is not a map"));
    for (media_type, media) in content {
        assert!(media_type.contains('/'), "{at}: {media_type} is not a media type");
        if let Some(schema) = media.get("schema") {
            check_schema(schema, &format!("{at}/{media_type}"));
        }
    }
}

/// Every route and method the document describes, as `(METHOD, path)`.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            OPERATIONS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_ascii_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn the_document_is_well_formed_openapi_3_1() {
    let app = spawn(&[]).await;
    let doc = served(&app).await;

    let version = doc["openapi"].as_str().expect("an openapi field");
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()), "info.title");
    assert!(doc["info"]["version"].as_str().is_some_and(|v| !v.is_empty()), "info.version");
    check_refs(&doc, &doc, "#");

    let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
    for (name, schema) in doc["components"]["schemas"].as_object().expect("component schemas") {
        check_schema(schema, &format!("#/components/schemas/{name}"));
    }
    let mut operation_ids = BTreeSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(!paths.is_empty());
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        let templated: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        let operations: Vec<_> = OPERATIONS.iter().filter_map(|m| item.get(*m).map(|op| (*m, op))).collect();
        assert!(!operations.is_empty(), "{path} has no operation");
        for (method, op) in operations {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{at}: no operationId"));
            assert!(operation_ids.insert(id.to_owned()), "{at}: operationId {id} used twice");

            let in_path: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| deref(&doc, p))
                .filter(|p| {
                    let place = p["in"].as_str().expect("parameter.in");
                    assert!(["query", "header", "path", "cookie"].contains(&place), "{at}: in {place}");
                    check_schema(&p["schema"], &format!("{at} parameter {}", p["name"]));
                    place == "path"
                })
                .map(|p| {
                    assert_eq!(p["required"], true, "{at}: path parameter {} not required", p["name"]);
                    p["name"].as_str().expect("parameter.name")
                })
                .collect();
            assert_eq!(in_path, templated, "{at}: path parameters and the template differ");

            if let Some(body) = op.get("requestBody") {
                check_content(&deref(&doc, body)["content"], &format!("{at} request body"));
            }
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{at}: no responses"));
            assert!(!responses.is_empty(), "{at}: no responses");
            for (status, response) in responses {
                let ok = status == "default"
                    || (status.len() == 3
                        && status.starts_with(['1', '2', '3', '4', '5'])
                        && (status[1..].bytes().all(|b| b.is_ascii_digit()) || &status[1..] == "XX"));
                assert!(ok, "{at}: response key {status}");
                let response = deref(&doc, response);
                assert!(response["description"].is_string(), "{at} {status}: no description");
                if let Some(content) = response.get("content") {
                    check_content(content, &format!("{at} {status}"));
                }
            }
            for requirement in op["security"].as_array().into_iter().flatten() {
                for name in requirement.as_object().expect("a security requirement").keys() {
                    assert!(schemes.contains_key(name), "{at}: security scheme {name} is not defined");
                }
            }
        }
    }

    // An independent OpenAPI 3.1 model reads it, and resolves every operation's parts.
    let spec = oas3::from_json(doc.to_string()).expect("oas3 cannot read the document");
    spec.validate_version().expect("oas3: not a supported OpenAPI version");
    let mut read = 0;
    for (path, method, op) in spec.operations() {
        op.parameters(&spec).unwrap_or_else(|e| panic!("{method} {path}: parameters: {e}"));
        op.request_body(&spec).unwrap_or_else(|e| panic!("{method} {path}: request body: {e}"));
        let responses = op.responses(&spec);
        assert_eq!(
            responses.len(),
            doc["paths"][&path][method.as_str().to_ascii_lowercase()]["responses"].as_object().unwrap().len(),
            "{method} {path}"
        );
        for (status, response) in responses {
            for (media_type, media) in &response.content {
                media.schema(&spec).unwrap_or_else(|e| panic!("{method} {path} {status} {media_type}: {e}"));
            }
        }
        read += 1;
    }
    assert_eq!(read, documented(&doc).len());
}

#[tokio::test]
async fn docs_openapi_json_is_what_the_server_serves() {
    let app = spawn(&[]).await;
    let doc = served(&app).await;
    if std::env::var("LATCHKEY_WRITE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(DOCS_COPY, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let copy = std::fs::read_to_string(DOCS_COPY).unwrap_or_default();
    let copy: Value = serde_json::from_str(&copy).unwrap_or(Value::Null);
    assert!(copy == doc, "docs/openapi.json differs from GET /api/v1/openapi.json; rewrite it with `{REWRITE}`");
}

/// Every `.route("<path>", web::<method>()…)` under `src/`, as `(METHOD, path)`.
fn route_table() -> BTreeSet<(String, String)> {
    fn walk(dir: &Path, routes: &mut BTreeSet<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, routes);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                for rest in source.split(".route(\"").skip(1) {
                    let (route, after) = rest.split_once('"').unwrap();
                    let method = after
                        .trim_start_matches([',', ' ', '\n'])
                        .strip_prefix("web::")
                        .and_then(|m| m.split_once("()"))
                        .map(|(m, _)| m.to_ascii_uppercase())
                        .unwrap_or_else(|| {
                            panic!("{}: `{route}` is not registered as web::<method>()", path.display())
                        });
                    routes.insert((method, route.to_owned()));
                }
            }
        }
    }
    let mut routes = BTreeSet::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut routes);
    routes
}

#[tokio::test]
async fn every_api_route_is_documented_and_nothing_else() {
    let app = spawn(&[]).await;
    let doc = served(&app).await;
    let table: BTreeSet<_> = route_table().into_iter().filter(|(_, path)| path.starts_with("/api/v1/")).collect();
    assert!(table.contains(&("POST".to_owned(), "/api/v1/login".to_owned())), "the route table was not found");
    let documented = documented(&doc);
    let undocumented: Vec<_> = table.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&table).collect();
    assert!(undocumented.is_empty(), "routes missing from the document: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
}

// ---- Answers -----------------------------------------------------------------------------

/// Why `value` does not match `schema` (JSON Schema: the keywords this document uses).
fn mismatch(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return mismatch(doc, resolve(doc, reference), value, at);
    }
    if schema == &Value::Bool(true) {
        return None;
    }
    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = alternatives.iter().filter(|s| mismatch(doc, s, value, at).is_none()).count();
        if matching != 1 {
            return Some(format!("{at}: {matching} of oneOf match {value}"));
        }
    }
    for all in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        if let Some(why) = mismatch(doc, all, value, at) {
            return Some(why);
        }
    }
    if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array)
        && !alternatives.iter().any(|s| mismatch(doc, s, value, at).is_none())
    {
        return Some(format!("{at}: no anyOf matches {value}"));
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            t => vec![t.as_str().unwrap_or_default()],
        };
        let is = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "string" => value.is_string(),
            _ => false,
        };
        if !types.iter().any(|t| is(t)) {
            return Some(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        return Some(format!("{at}: {value} is not one of {values:?}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Some(format!("{at}: `{name}` is missing from {value}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, item) in object {
            let described = properties.and_then(|p| p.get(name));
            let why = match (described, schema.get("additionalProperties")) {
                (Some(property), _) => mismatch(doc, property, item, &format!("{at}.{name}")),
                (None, Some(Value::Bool(false))) => Some(format!("{at}: `{name}` is not described")),
                (None, Some(extra)) => mismatch(doc, extra, item, &format!("{at}.{name}")),
                (None, None) => None,
            };
            if why.is_some() {
                return why;
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, item) in list.iter().enumerate() {
            if let Some(why) = mismatch(doc, items, item, &format!("{at}[{i}]")) {
                return Some(why);
            }
        }
    }
    None
}

/// Asserts that the status answered is one the document lists for `method path` (the path as
/// templated in the document) and that the body matches that response's schema; returns the
/// body (`null` when it is not JSON).
pub(crate) async fn as_documented(doc: &Value, method: &str, path: &str, response: reqwest::Response) -> Value {
    let status = response.status();
    let at = format!("{method} {path} → {status}");
    let op = &doc["paths"][path][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    let documented = op["responses"].get(status.as_str()).unwrap_or_else(|| {
        let listed: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        panic!("{at}: not a documented status (documented: {listed:?})")
    });
    let documented = deref(doc, documented);
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text = response.text().await.unwrap();
    match documented.get("content").and_then(|c| c.get("application/json")) {
        Some(media) => {
            assert!(is_json, "{at}: the body is not JSON: {text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            if let Some(schema) = media.get("schema")
                && let Some(why) = mismatch(doc, schema, &body, "body")
            {
                panic!("{at}: {why}");
            }
            body
        }
        None => {
            assert!(!is_json, "{at}: a JSON body where the document describes none: {text}");
            Value::Null
        }
    }
}

/// A request to the admin API with the token.
async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.address)).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// `POST /api/v1/login` with `body`.
fn login(app: &TestApp, body: Value) -> reqwest::RequestBuilder {
    app.client.post(format!("{}/api/v1/login", app.address)).json(&body)
}

#[tokio::test]
async fn the_sign_in_routes_answer_as_documented() {
    let app = spawn(&[("RATE_LIMIT_LOGIN_EMAIL", "1/1h")]).await;
    let doc = served(&app).await;
    let check = |method: &'static str, path: &'static str| {
        let doc = &doc;
        move |response| as_documented(doc, method, path, response)
    };
    // Signed in first: the link mails the login requests below send must not be taken for its own.
    let session_answer = check("GET", "/api/v1/session");
    let anonymous = app.get_session().await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    session_answer(anonymous).await;
    app.sign_in("reader@example.com").await;
    let signed_in = app.get_session().await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert_eq!(session_answer(signed_in).await["email"], "reader@example.com");
    let token = app.cookie("__Host-session").expect("a session cookie");
    app.clear_cookies();
    let bearer = app.client.get(format!("{}/api/v1/session", app.address)).bearer_auth(&token);
    let bearer = bearer.send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    session_answer(bearer).await;

    let login_answer = check("POST", "/api/v1/login");

    let sent = login_answer(login(&app, json!({ "email": "someone@example.com" })).send().await.unwrap()).await;
    assert_eq!((&sent["status"], &sent["status_url"]), (&json!("sent"), &json!("/api/v1/login/status")));
    assert!(sent["number"].is_u64(), "{sent}");
    let status_answer = check("GET", "/api/v1/login/status");
    let stranger = status_answer(app.client.get(format!("{}/api/v1/login/status", app.address)).send().await.unwrap());
    assert_eq!(stranger.await["error"], "not_found");
    // In the browser that asked (its attempt cookie kept): waiting.
    assert_eq!(app.send(login(&app, json!({ "email": "waiting@example.com" }))).await.status(), StatusCode::ACCEPTED);
    let waiting = status_answer(app.get("/api/v1/login/status").await).await;
    assert_eq!(waiting["status"], "waiting");
    let limited = login(&app, json!({ "email": "someone@example.com" })).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    login_answer(limited).await;
    let bad = login(&app, json!({ "email": "not an address" })).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    login_answer(bad).await;
    let no_email = login(&app, json!({ "address": "a@example.com" })).send().await.unwrap();
    assert_eq!(no_email.status(), StatusCode::BAD_REQUEST);
    assert!(login_answer(no_email).await["message"].as_str().unwrap().contains("email"));
    let cross_site = login(&app, json!({ "email": "b@example.com" })).header("Origin", "https://evil.example");
    let cross_site = cross_site.send().await.unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    login_answer(cross_site).await;

    check("GET", "/api/v1/openapi.json")(app.get("/api/v1/openapi.json").await).await;
}

#[tokio::test]
async fn the_admin_routes_answer_as_documented() {
    let app = spawn(&[]).await;
    let doc = served(&app).await;
    app.sign_in("member@example.com").await;
    let member_session = app.cookie("__Host-session").expect("a session cookie");
    app.clear_cookies();

    // Every admin route refuses a request without credentials, as documented: a change that
    // does not even come from the service's own pages is a 403, anything else a 401.
    let admin_routes: Vec<_> = documented(&doc).into_iter().filter(|(_, p)| p.starts_with("/api/v1/admin/")).collect();
    assert!(admin_routes.len() >= 14, "{admin_routes:?}");
    for (method, template) in &admin_routes {
        let path = template.replace("{email}", "member@example.com").replace("{action}", "block").replace("{id}", "x");
        let url = format!("{}{path}", app.address);
        let bare = app.client.request(method.parse().unwrap(), &url).send().await.unwrap();
        let refused = if method == "GET" { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
        assert_eq!(bare.status(), refused, "{method} {path}");
        as_documented(&doc, method, template, bare).await;
        let same_origin = app.client.request(method.parse().unwrap(), &url).header("Sec-Fetch-Site", "same-origin");
        let same_origin = same_origin.send().await.unwrap();
        assert_eq!(same_origin.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        as_documented(&doc, method, template, same_origin).await;
    }
    // A member's session is no admin's.
    let member = app.client.get(format!("{}/api/v1/admin/policy", app.address));
    let member = member.header("Cookie", format!("__Host-session={member_session}")).send().await.unwrap();
    assert_eq!(member.status(), StatusCode::FORBIDDEN);
    as_documented(&doc, "GET", "/api/v1/admin/policy", member).await;

    // With the token.
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let app = &app;
        async move { admin(app, method.parse().unwrap(), &path, body).await }
    };
    let expect = async |status: StatusCode, method: &'static str, template: &str, path: &str, body: Option<Value>| {
        let response = call(method, path.to_owned(), body).await;
        assert_eq!(response.status(), status, "{method} {path}");
        as_documented(&doc, method, template, response).await
    };

    let policy_path = "/api/v1/admin/policy";
    let policy = expect(StatusCode::OK, "GET", policy_path, policy_path, None).await;
    let mut bad = policy.clone();
    bad["link_ttl_secs"] = 5.into();
    let refused = expect(StatusCode::BAD_REQUEST, "PUT", policy_path, policy_path, Some(bad)).await;
    assert!(refused["fields"]["link_ttl_secs"].is_string(), "{refused}");
    expect(StatusCode::BAD_REQUEST, "PUT", policy_path, policy_path, Some(json!({ "second_factor": "off" }))).await;
    let mut unknown = policy.clone();
    unknown["unknown_knob"] = 1.into();
    expect(StatusCode::BAD_REQUEST, "PUT", policy_path, policy_path, Some(unknown)).await;
    let mut stale = policy.clone();
    stale["version"] = (policy["version"].as_u64().unwrap() + 7).into();
    expect(StatusCode::CONFLICT, "PUT", policy_path, policy_path, Some(stale)).await;
    let form = app.client.put(format!("{}{policy_path}", app.address)).bearer_auth(TOKEN).body("{}");
    let form = form.header("Content-Type", "text/plain").send().await.unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    as_documented(&doc, "PUT", policy_path, form).await;
    let not_json = app.client.put(format!("{}{policy_path}", app.address)).bearer_auth(TOKEN).body("{");
    let not_json = not_json.header("Content-Type", "application/json").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    as_documented(&doc, "PUT", policy_path, not_json).await;
    let huge = json!({ "signup_allow": vec!["x.example.com"; 2000] });
    expect(StatusCode::PAYLOAD_TOO_LARGE, "PUT", policy_path, policy_path, Some(huge)).await;
    let saved = expect(StatusCode::OK, "PUT", policy_path, policy_path, Some(policy.clone())).await;
    assert_eq!(saved["version"], policy["version"].as_u64().unwrap() + 1);

    let user = "/api/v1/admin/users/{email}";
    expect(StatusCode::OK, "GET", user, "/api/v1/admin/users/member@example.com", None).await;
    expect(StatusCode::NOT_FOUND, "GET", user, "/api/v1/admin/users/nobody@example.com", None).await;
    expect(StatusCode::BAD_REQUEST, "GET", user, "/api/v1/admin/users/not-an-address", None).await;
    let revoke = "/api/v1/admin/users/{email}/revoke-sessions";
    let revoked =
        expect(StatusCode::OK, "POST", revoke, "/api/v1/admin/users/member@example.com/revoke-sessions", None);
    assert_eq!(revoked.await["revoked"], 1);
    expect(StatusCode::NOT_FOUND, "POST", revoke, "/api/v1/admin/users/nobody@example.com/revoke-sessions", None).await;
    let action = "/api/v1/admin/users/{email}/{action}";
    expect(StatusCode::OK, "POST", action, "/api/v1/admin/users/member@example.com/block", None).await;
    expect(StatusCode::OK, "POST", action, "/api/v1/admin/users/member@example.com/unblock", None).await;
    expect(StatusCode::NOT_FOUND, "POST", action, "/api/v1/admin/users/member@example.com/promote", None).await;
    let factor = "/api/v1/admin/users/{email}/second-factor";
    expect(StatusCode::OK, "DELETE", factor, "/api/v1/admin/users/member@example.com/second-factor", None).await;
    expect(StatusCode::NOT_FOUND, "DELETE", factor, "/api/v1/admin/users/nobody@example.com/second-factor", None).await;

    let audit = "/api/v1/admin/audit";
    let page = expect(StatusCode::OK, "GET", audit, "/api/v1/admin/audit?limit=5", None).await;
    assert!(!page["events"].as_array().unwrap().is_empty(), "{page}");
    expect(StatusCode::OK, "GET", audit, "/api/v1/admin/audit?user=member@example.com", None).await;
    expect(StatusCode::BAD_REQUEST, "GET", audit, "/api/v1/admin/audit?limit=many", None).await;
    expect(StatusCode::BAD_REQUEST, "GET", audit, "/api/v1/admin/audit?before=yesterday", None).await;
    expect(StatusCode::BAD_REQUEST, "GET", audit, "/api/v1/admin/audit?user=nobody", None).await;

    let outbox = "/api/v1/admin/outbox";
    expect(StatusCode::OK, "GET", outbox, outbox, None).await;
    expect(StatusCode::BAD_REQUEST, "GET", outbox, "/api/v1/admin/outbox?limit=-1", None).await;
    let retry = "/api/v1/admin/outbox/dead/{id}/retry";
    expect(StatusCode::NOT_FOUND, "POST", retry, "/api/v1/admin/outbox/dead/0-0/retry", None).await;

    let clients = "/api/v1/admin/clients";
    let client = "/api/v1/admin/clients/{id}";
    let draft =
        json!({ "client_id": "shop", "type": "confidential", "redirect_uris": ["https://shop.example.com/cb"] });
    let created = expect(StatusCode::CREATED, "POST", clients, clients, Some(draft.clone())).await;
    assert!(created["client_secret"].is_string(), "{created}");
    expect(StatusCode::CONFLICT, "POST", clients, clients, Some(draft.clone())).await;
    let public = json!({ "client_id": "spa", "type": "public", "redirect_uris": ["https://spa.example.com/cb"] });
    expect(StatusCode::CREATED, "POST", clients, clients, Some(public)).await;
    let broken = json!({ "client_id": "bad", "type": "public", "redirect_uris": [] });
    let refused = expect(StatusCode::BAD_REQUEST, "POST", clients, clients, Some(broken)).await;
    assert!(!refused["problems"].as_array().unwrap().is_empty(), "{refused}");
    let mistyped = json!({ "client_id": "bad", "redirect_uris": "https://x.example.com" });
    expect(StatusCode::BAD_REQUEST, "POST", clients, clients, Some(mistyped)).await;
    let listed = expect(StatusCode::OK, "GET", clients, clients, None).await;
    assert_eq!(listed["clients"].as_array().unwrap().len(), 2, "{listed}");
    let hooked =
        json!({ "redirect_uris": ["https://shop.example.com/cb2"], "webhook_url": "https://shop.example.com/hook" });
    let updated = expect(StatusCode::OK, "PUT", client, "/api/v1/admin/clients/shop", Some(hooked)).await;
    assert!(updated["webhook_secret"].is_string(), "{updated}");
    expect(StatusCode::NOT_FOUND, "PUT", client, "/api/v1/admin/clients/nope", Some(draft)).await;
    let rotate = "/api/v1/admin/clients/{id}/rotate-secret";
    expect(StatusCode::OK, "POST", rotate, "/api/v1/admin/clients/shop/rotate-secret", None).await;
    expect(StatusCode::BAD_REQUEST, "POST", rotate, "/api/v1/admin/clients/spa/rotate-secret", None).await;
    expect(StatusCode::NOT_FOUND, "POST", rotate, "/api/v1/admin/clients/nope/rotate-secret", None).await;
    expect(StatusCode::NO_CONTENT, "DELETE", client, "/api/v1/admin/clients/shop", None).await;
    expect(StatusCode::NOT_FOUND, "DELETE", client, "/api/v1/admin/clients/shop", None).await;
}

#[test]
fn the_checks_refuse_what_the_document_does_not_describe() {
    let doc = serde_json::to_value(<latchkey::routes::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    let schema = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let error = schema("ErrorBody");
    assert_eq!(mismatch(&doc, &error, &json!({ "error": "not_found", "message": "not found" }), "body"), None);
    for wrong in [
        json!({ "error": "not_found" }),
        json!({ "error": "teapot", "message": "short and stout" }),
        json!({ "error": "not_found", "message": "not found", "extra": 1 }),
        json!({ "error": "not_found", "message": 404 }),
        json!(["not_found"]),
    ] {
        assert!(mismatch(&doc, &error, &wrong, "body").is_some(), "{wrong} passed as an ErrorBody");
    }
    let refusal = schema("PolicyRefusal");
    let fields = json!({ "error": "invalid_policy", "fields": { "link_ttl_secs": "must be between 60 and 3600" } });
    assert_eq!(mismatch(&doc, &refusal, &fields, "body"), None);
    assert_eq!(mismatch(&doc, &refusal, &json!({ "error": "invalid_json", "message": "EOF" }), "body"), None);
    assert!(mismatch(&doc, &refusal, &json!({ "error": "invalid_policy" }), "body").is_some());
    let page = schema("AuditPage");
    assert!(mismatch(&doc, &page, &json!({ "events": [{ "id": "1-0" }], "next": null }), "body").is_some());

    let mut dangling = doc.clone();
    dangling["paths"]["/api/v1/login"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        schema("NoSuchThing");
    assert!(std::panic::catch_unwind(|| check_refs(&dangling, &dangling, "#")).is_err(), "a dangling $ref passed");
    for bad in [json!({ "type": "text" }), json!({ "type": "object", "required": "email" }), json!({ "oneOf": [] })] {
        assert!(std::panic::catch_unwind(|| check_schema(&bad, "test")).is_err(), "{bad} passed as a schema");
    }
}
