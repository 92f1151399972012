//! The store's floor for B2: an HTTP server that does a link request's Redis work and nothing
//! else, so the harness can show how much of B2's gap to B0 is the store's (bench/RESULTS.md).
//!
//! Same stack as latchkey (actix-web, mimalloc, one Redis connection per HTTP worker through
//! latchkey's own `RedisStore`), two routes besides `GET /healthz`:
//!
//! - `POST /floor/store`: latchkey's own store calls for a link request, in the order and with
//!   the overlap of `SignIn::request_link` (the IP, address-and-network and address limits in
//!   one script call, then the link generation ∥ attempt ∥ outbox entry: four commands sent in
//!   two round trips, two of them script calls; no read of the account, no audit event), on records of
//!   production size filled
//!   from a userspace RNG. The address is parsed; there is no CSRF check, HMAC, OS random
//!   draw, AEAD seal, policy or request-logging middleware.
//! - `POST /floor/one-trip`: the same work as one plain pipeline of plain commands with no
//!   reply awaited in between — 10 commands: no `PTTL`s (nobody reads the windows), no
//!   scripts. It is not a correct link request (it writes before the limits answer); it only
//!   shows what sending those writes at once would give.
//!
//! If `SignIn::request_link` changes its store calls, change `store_calls` with it.
//!
//! Both take `{"email": "…"}` and answer 202 with a cookie and `{"status":"sent"}`, as latchkey.
//! Settings (environment): `REDIS_URL`, `REDIS_KEY_PREFIX`, `BIND_ADDR`.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::Utc;
use latchkey::domain::{AttemptId, Email, LocalPath, RequestOrigin};
use latchkey::store::{AttemptStore, LimitHit, LimitStore, new_link_generation};
use latchkey::store::{
    Keys, LinkAttempt, OutboxStore, QueuedJob, RateKey, RedisConnection, RedisQueue, RedisStore, StoreError,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The harness gives latchkey's limits a one-minute window.
const WINDOW: Duration = Duration::from_secs(60);
/// A link's lifetime plus the hour a used or expired attempt is remembered.
const KEEP_FOR: Duration = Duration::from_secs(15 * 60 + 3600);

/// The keyed hash of wrk's one address (latchkey keys the IP limit by an HMAC of it).
const ONE_CLIENT: &str = "k7Qp0mZ2vX9cR4tY8uN1wE6aS3dF5gH0jL2zB7nM4qP";

struct Floor {
    store: RedisStore,
    queue: RedisQueue<RedisConnection>,
    keys: Keys,
}

#[derive(serde::Deserialize)]
struct Body {
    email: String,
}

/// What a link request writes, at production size (keyed hashes are 43 characters, the
/// sealed sign-in mail ~450).
struct Records {
    ip_limit: RateKey,
    pair_limit: RateKey,
    email_limit: RateKey,
    lookup: String,
    id: AttemptId,
    attempt: LinkAttempt,
    job: QueuedJob,
}

/// 43 characters shaped like a keyed hash, from the thread's RNG (latchkey's own OS random
/// draws are not the store's work).
fn hash() -> String {
    let (a, b): (u128, u128) = (rand::random(), rand::random());
    let mut hex = format!("{a:032x}{b:032x}");
    hex.truncate(43);
    hex
}

fn records(email: &str) -> Option<Records> {
    let email = Email::parse(email).ok()?;
    let now = Utc::now();
    let origin = RequestOrigin::new(Some([127, 0, 0, 1].into()), "wrk");
    let lookup = hash();
    let attempt = LinkAttempt {
        email: email.clone(),
        return_to: LocalPath::account(),
        requested_from: origin.clone(),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(15),
        browser: hash(),
        code: hash(),
        email_lookup: lookup.clone(),
        generation: 0,
        require_second_factor: false,
        number: None,
    };
    let job = QueuedJob {
        handle: String::new(),
        holder: String::new(),
        id: hash()[..16].to_owned(),
        kind: "mail".to_owned(),
        to: email.masked(),
        sealed: "S".repeat(450),
        tries: 0,
        deliver_by: Some(attempt.expires_at.timestamp()),
        queued_at: now.timestamp_millis(),
        last_error: None,
    };
    Some(Records {
        // wrk connects from one address: one IP counter for the whole run, as in latchkey.
        ip_limit: RateKey { action: "login_ip", subject: ONE_CLIENT.to_owned() },
        pair_limit: RateKey { action: "login-email-net", subject: hash() },
        email_limit: RateKey { action: "login_email", subject: hash() },
        lookup,
        id: AttemptId::parse(&hash())?,
        attempt,
        job,
    })
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((
            "set-cookie",
            format!("__Host-attempt={}; Path=/; Max-Age=900; Secure; HttpOnly; SameSite=Lax", hash()),
        ))
        .json(serde_json::json!({ "status": "sent" }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok")
}

/// latchkey's store calls, as `SignIn::request_link` makes them.
async fn store_calls(floor: web::Data<Floor>, body: web::Json<Body>) -> HttpResponse {
    let Some(mut r) = records(&body.email) else { return HttpResponse::BadRequest().finish() };
    let work = async {
        let hit = |key| LimitHit { key, window: WINDOW, max: u64::MAX };
        floor.store.hit_limits(&[hit(&r.ip_limit), hit(&r.pair_limit), hit(&r.email_limit)]).await?;
        r.attempt.generation = new_link_generation();
        let (superseded, stored, queued) = tokio::join!(
            floor.store.supersede_links(&r.lookup, r.attempt.generation),
            floor.store.put_attempt(&r.id, &r.attempt, KEEP_FOR),
            floor.queue.push(&r.job)
        );
        superseded?;
        stored?;
        queued?;
        Ok::<_, StoreError>(())
    };
    match work.await {
        Ok(()) => accepted(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// The same writes in one round trip.
async fn one_trip(floor: web::Data<Floor>, body: web::Json<Body>) -> HttpResponse {
    let Some(mut r) = records(&body.email) else { return HttpResponse::BadRequest().finish() };
    r.attempt.generation = new_link_generation();
    let (Ok(attempt), Ok(job)) = (serde_json::to_string(&r.attempt), serde_json::to_string(&r.job)) else {
        return HttpResponse::InternalServerError().finish();
    };
    let k = &floor.keys;
    let (ip, pair, email, generation, key) = (
        k.rate(&r.ip_limit),
        k.rate(&r.pair_limit),
        k.rate(&r.email_limit),
        k.link_generation(&r.lookup),
        k.attempt(&r.id),
    );
    let mut pipe = redis::pipe();
    for limit in [&ip, &pair, &email] {
        pipe.incr(limit, 1).ignore().cmd("PEXPIRE").arg(limit).arg(WINDOW.as_millis() as u64).arg("NX").ignore();
    }
    // 48 h: the store's generation TTL.
    pipe.set_ex(&generation, r.attempt.generation, 48 * 3600).ignore();
    let expires = r.attempt.expires_at.timestamp_millis().to_string();
    pipe.hset_multiple(&key, &[("data", attempt.as_str()), ("status", "pending"), ("expires", &expires)]).ignore();
    pipe.expire(&key, KEEP_FOR.as_secs() as i64).ignore();
    pipe.cmd("XADD").arg(k.outbox_ready()).arg("*").arg("job").arg(job).ignore();
    match pipe.exec_async(&mut floor.store.connection()).await {
        Ok(()) => accepted(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = std::env::var("REDIS_KEY_PREFIX").unwrap_or_else(|_| "floor:".to_owned());
    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    actix_web::rt::System::with_tokio_rt(move || runtime).block_on(async move {
        let keys = Keys::new(prefix);
        let store = RedisStore::connect(&url, keys.clone())?;
        let queue = RedisQueue::new(store.connection(), store.connection(), keys.clone());
        let per_worker = store.connection();
        let floor = web::Data::new(Floor { store, queue, keys });
        let server = HttpServer::new(move || {
            per_worker.bind_this_thread();
            App::new()
                .app_data(floor.clone())
                .route("/healthz", web::get().to(healthz))
                .route("/floor/store", web::post().to(store_calls))
                .route("/floor/one-trip", web::post().to(one_trip))
        })
        .bind(addr)?;
        for addr in server.addrs() {
            println!("listening on {addr}");
        }
        server.run().await?;
        Ok(())
    })
}
