//! Whether Redis keeps what latchkey writes: the append-only file on and synced at least every
//! second, and no eviction. Without them a restart loses (or rolls back) sign-in state, and a
//! full Redis silently drops keys — second factors, blocks — instead of refusing writes.

use std::time::{Duration, Instant};

use redis::Value;

use super::RedisConnection;

/// How long an instance reuses a durability check for `/readyz`: a flood of `/readyz`
/// (a public route) costs Redis at most one `CONFIG GET` per node per this interval.
pub const DURABILITY_RECHECK: Duration = Duration::from_secs(5);

/// The durability check `/readyz` runs, at most once per [`DURABILITY_RECHECK`] per
/// instance: concurrent requests wait for the one check in flight and share its answer.
pub struct DurabilityWatch {
    conn: RedisConnection,
    /// The last answer Redis gave, and when. A failure to ask is not kept (the next request
    /// asks again).
    last: tokio::sync::Mutex<Option<(Instant, Vec<DurabilityProblem>)>>,
}

impl DurabilityWatch {
    /// Watches the Redis `conn` reaches.
    pub fn new(conn: RedisConnection) -> Self {
        Self { conn, last: tokio::sync::Mutex::new(None) }
    }

    /// The problems found by a check at most [`DURABILITY_RECHECK`] old (none: durable).
    /// A fresh check that finds problems logs them (the only place they are detailed, besides
    /// the start-up message and `/readyz` asked with the admin token). `Err` when Redis does
    /// not answer.
    pub async fn problems(&self) -> redis::RedisResult<Vec<DurabilityProblem>> {
        // Held across the check: a burst of requests makes one check, not one each.
        let mut last = self.last.lock().await;
        if let Some((at, problems)) = last.as_ref()
            && at.elapsed() < DURABILITY_RECHECK
        {
            return Ok(problems.clone());
        }
        let problems = check_durability(&self.conn).await?;
        if !problems.is_empty() {
            let detail: Vec<String> = problems.iter().map(ToString::to_string).collect();
            tracing::error!(problems = ?detail, "Redis can lose data");
        }
        *last = Some((Instant::now(), problems.clone()));
        Ok(problems)
    }
}

/// One node's setting that lets Redis lose data, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurabilityProblem {
    /// The node (`host:port`, or `server` for one server).
    pub node: String,
    /// The setting (`appendonly`, `appendfsync`, `maxmemory-policy`), or `CONFIG GET`.
    pub setting: &'static str,
    /// What it is and what to set.
    pub message: String,
}

impl std::fmt::Display for DurabilityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}: {}", self.setting, self.node, self.message)
    }
}

/// Asks every node (`CONFIG GET`) for its persistence and eviction settings; returns every
/// problem found (none: the store keeps what it is given). `Err` when Redis does not answer.
pub async fn check_durability(conn: &RedisConnection) -> redis::RedisResult<Vec<DurabilityProblem>> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET").arg("appendonly").arg("appendfsync").arg("maxmemory-policy");
    let answers = match conn.on_every_node(&cmd).await {
        Ok(answers) => answers,
        // Only Redis itself saying no — NOPERM (an ACL), an unknown or renamed command (a
        // managed Redis) — means the settings cannot be read; anything else (a connection
        // refused, a timeout, a cluster not yet reachable) is Redis not answering.
        Err(e) if e.code().is_none() => return Err(e),
        Err(e) => {
            return Ok(vec![DurabilityProblem {
                node: "server".to_owned(),
                setting: "CONFIG GET",
                message: format!(
                    "is not allowed ({}): if this Redis is managed and you have checked that it runs with AOF \
                     (appendfsync everysec or always) and maxmemory-policy noeviction, set REDIS_DURABILITY=managed",
                    e.code().unwrap_or("refused")
                ),
            }]);
        }
    };
    let mut problems = Vec::new();
    for (node, answer) in answers {
        problems.extend(node_problems(&node, answer));
    }
    Ok(problems)
}

fn node_problems(node: &str, answer: Value) -> Vec<DurabilityProblem> {
    let settings: std::collections::HashMap<String, String> = match answer {
        Value::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, v)| Some((redis::from_redis_value(k).ok()?, redis::from_redis_value(v).ok()?)))
            .collect(),
        other => redis::from_redis_value::<Vec<String>>(other)
            .unwrap_or_default()
            .chunks(2)
            .filter_map(|pair| Some((pair.first()?.clone(), pair.get(1)?.clone())))
            .collect(),
    };
    let get = |name: &str| settings.get(name).map(String::as_str).unwrap_or("(not reported)");
    let problem =
        |setting: &'static str, message: String| DurabilityProblem { node: node.to_owned(), setting, message };
    let mut problems = Vec::new();
    if get("appendonly") != "yes" {
        problems.push(problem(
            "appendonly",
            format!("is `{}`: set `appendonly yes` (without the append-only file a restart loses or rolls back sessions, blocks and second factors)", get("appendonly")),
        ));
    }
    if !matches!(get("appendfsync"), "everysec" | "always") {
        problems.push(problem(
            "appendfsync",
            format!("is `{}`: set `appendfsync everysec` (or `always`)", get("appendfsync")),
        ));
    }
    if get("maxmemory-policy") != "noeviction" {
        problems.push(problem(
            "maxmemory-policy",
            format!(
                "is `{}`: set `maxmemory-policy noeviction` (an evicting Redis drops keys — second factors, blocks — instead of refusing writes)",
                get("maxmemory-policy")
            ),
        ));
    }
    problems
}
