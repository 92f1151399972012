//! The outbox queue in Redis: ready deliveries in a Stream read by a consumer group (one
//! consumer per instance), retries in a sorted set scored by due time, dead letters in a capped
//! Stream. All three keys share one hash tag, so each move between them is one MULTI or script,
//! on a single node or a cluster.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionLike;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use crate::store::queue::{DEAD_LETTER_CAP, DeadLetter, OutboxStats, OutboxStore, QueuedJob};
use crate::store::{Keys, StoreError, StoreResult};

/// The workers' consumer group.
const GROUP: &str = "workers";

/// Makes due retries ready: each moves from the schedule to the stream in one step, so two
/// instances promoting at once cannot duplicate or lose one.
/// KEYS[1] = schedule, KEYS[2] = ready stream; ARGV[1] = now (unix ms), ARGV[2] = max.
const PROMOTE_SCRIPT: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
";

/// Settles a held delivery, only if `consumer` still holds it (another worker may have taken it
/// over after the lease): takes it out of the stream and, for a retry or a burial, puts it in
/// the schedule or the dead letters — all in one step.
/// KEYS[1] = ready stream, KEYS[2] = schedule, KEYS[3] = dead stream;
/// ARGV[1] = group, ARGV[2] = entry id, ARGV[3] = consumer, ARGV[4] = ack | retry | bury,
/// ARGV[5] = due (unix ms, retry), ARGV[6] = JSON (retry: the job; bury: the dead letter),
/// ARGV[7] = dead-letter cap. Returns 1, or 0 when not held by `consumer`.
const SETTLE_SCRIPT: &str = r"
local held = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #held == 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[4] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
elseif ARGV[4] == 'bury' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'dead', ARGV[6])
end
return 1
";

/// Requeues a dead letter once: only the caller whose XDEL removed it adds it back.
/// KEYS[1] = dead stream, KEYS[2] = ready stream; ARGV[1] = dead id, ARGV[2] = job JSON.
const REQUEUE_SCRIPT: &str = r"
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[2])
return 1
";

/// The outbox queue over any Redis connection (single node or cluster). `blocking` is a
/// connection of its own for `XREADGROUP … BLOCK`, which would stall everything queued behind
/// it on the shared, multiplexed one.
pub struct RedisQueue<C> {
    conn: C,
    blocking: C,
    keys: Keys,
    promote: redis::Script,
    requeue: redis::Script,
    settle: redis::Script,
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> RedisQueue<C> {
    /// A queue under `keys`' prefix.
    pub fn new(conn: C, blocking: C, keys: Keys) -> Self {
        Self {
            conn,
            blocking,
            keys,
            promote: redis::Script::new(PROMOTE_SCRIPT),
            requeue: redis::Script::new(REQUEUE_SCRIPT),
            settle: redis::Script::new(SETTLE_SCRIPT),
        }
    }

    /// Creates the consumer group (from the stream's start, so nothing queued before is
    /// skipped). Needed at first use and after Redis lost its data.
    async fn create_group(&self) -> StoreResult<()> {
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.outbox_ready())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn.clone())
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(unavailable(e)),
            _ => Ok(()),
        }
    }

    async fn settle(&self, job: &QueuedJob, op: &str, due_ms: i64, json: &str) -> StoreResult<bool> {
        let settled: i64 = self
            .settle
            .key(self.keys.outbox_ready())
            .key(self.keys.outbox_scheduled())
            .key(self.keys.outbox_dead())
            .arg(GROUP)
            .arg(&job.handle)
            .arg(&job.holder)
            .arg(op)
            .arg(due_ms)
            .arg(json)
            .arg(DEAD_LETTER_CAP)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(settled == 1)
    }

    /// Turns stream entries into jobs; an entry that does not parse is dropped (acked and
    /// deleted) with an error log, since no worker could ever deliver it.
    async fn jobs(&self, entries: Vec<StreamId>, holder: &str) -> StoreResult<Vec<QueuedJob>> {
        let mut jobs = Vec::with_capacity(entries.len());
        for entry in entries {
            let parsed = entry.get::<String>("job").and_then(|raw| serde_json::from_str::<QueuedJob>(&raw).ok());
            match parsed {
                Some(mut job) => {
                    job.handle = entry.id;
                    job.holder = holder.to_owned();
                    jobs.push(job);
                }
                None => {
                    tracing::error!(id = %entry.id, "outbox entry cannot be read; dropped");
                    self.forget(&entry.id).await?;
                }
            }
        }
        Ok(jobs)
    }

    async fn forget(&self, handle: &str) -> StoreResult<()> {
        self.release(handle).exec_async(&mut self.conn.clone()).await.map_err(unavailable)
    }

    /// A MULTI that takes a held entry out of the stream (acked and deleted); callers add where
    /// it goes next, so a delivery is never both held and elsewhere, nor nowhere.
    fn release(&self, handle: &str) -> redis::Pipeline {
        let ready = self.keys.outbox_ready();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(&ready)
            .arg(GROUP)
            .arg(handle)
            .ignore()
            .cmd("XDEL")
            .arg(&ready)
            .arg(handle)
            .ignore();
        pipe
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.into())
}

fn is_nogroup(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.into()))
}

#[async_trait]
impl<C: ConnectionLike + Clone + Send + Sync + 'static> OutboxStore for RedisQueue<C> {
    async fn push(&self, job: &QueuedJob) -> StoreResult<()> {
        let _: String = redis::cmd("XADD")
            .arg(self.keys.outbox_ready())
            .arg("*")
            .arg("job")
            .arg(to_json(job)?)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn claim(&self, consumer: &str, count: usize, wait: Duration) -> StoreResult<Vec<QueuedJob>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(consumer).arg("COUNT").arg(count.max(1));
        // BLOCK 0 would wait forever: no BLOCK at all when not waiting.
        let mut conn = if wait.is_zero() {
            self.conn.clone()
        } else {
            cmd.arg("BLOCK").arg(wait.as_millis().max(1) as u64);
            self.blocking.clone()
        };
        cmd.arg("STREAMS").arg(self.keys.outbox_ready()).arg(">");
        let reply: Option<StreamReadReply> = match cmd.query_async(&mut conn).await {
            Ok(reply) => reply,
            Err(e) if is_nogroup(&e) => {
                // First use, or Redis lost its data: make the group, then read once more.
                self.create_group().await?;
                cmd.query_async(&mut conn).await.map_err(unavailable)?
            }
            Err(e) => return Err(unavailable(e)),
        };
        let entries = reply.map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect()).unwrap_or_default();
        self.jobs(entries, consumer).await
    }

    async fn reclaim(&self, consumer: &str, lease: Duration, count: usize) -> StoreResult<Vec<QueuedJob>> {
        let reply: redis::RedisResult<StreamAutoClaimReply> = redis::cmd("XAUTOCLAIM")
            .arg(self.keys.outbox_ready())
            .arg(GROUP)
            .arg(consumer)
            .arg(lease.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut self.conn.clone())
            .await;
        match reply {
            Ok(reply) => self.jobs(reply.claimed, consumer).await,
            Err(e) if is_nogroup(&e) => {
                self.create_group().await?;
                Ok(Vec::new())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn ack(&self, job: &QueuedJob) -> StoreResult<bool> {
        self.settle(job, "ack", 0, "").await
    }

    async fn retry_at(&self, job: &QueuedJob, due: DateTime<Utc>) -> StoreResult<bool> {
        self.settle(job, "retry", due.timestamp_millis(), &to_json(job)?).await
    }

    async fn bury(&self, job: &QueuedJob, reason: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let dead =
            DeadLetter { handle: String::new(), job: job.clone(), reason: reason.to_owned(), at: at.to_rfc3339() };
        self.settle(job, "bury", 0, &to_json(&dead)?).await
    }

    async fn promote_due(&self, now: DateTime<Utc>, max: usize) -> StoreResult<usize> {
        self.promote
            .key(self.keys.outbox_scheduled())
            .key(self.keys.outbox_ready())
            .arg(now.timestamp_millis())
            .arg(max)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let (length, scheduled, dead): (u64, u64, u64) = redis::pipe()
            .cmd("XLEN")
            .arg(self.keys.outbox_ready())
            .cmd("ZCARD")
            .arg(self.keys.outbox_scheduled())
            .cmd("XLEN")
            .arg(self.keys.outbox_dead())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let pending: redis::RedisResult<redis::Value> =
            redis::cmd("XPENDING").arg(self.keys.outbox_ready()).arg(GROUP).query_async(&mut self.conn.clone()).await;
        let in_flight = match pending {
            // The summary form: [count, lowest id, highest id, consumers].
            Ok(redis::Value::Array(items)) => match items.first() {
                Some(redis::Value::Int(n)) => *n as u64,
                _ => 0,
            },
            Ok(_) => 0,
            Err(e) if is_nogroup(&e) => 0,
            Err(e) => return Err(unavailable(e)),
        };
        Ok(OutboxStats { ready: length.saturating_sub(in_flight), in_flight, scheduled, dead })
    }

    async fn dead_letters(&self, count: usize) -> StoreResult<Vec<DeadLetter>> {
        self.read_dead("XREVRANGE", "+", "-", count).await
    }

    async fn requeue_dead(&self, handle: &str) -> StoreResult<bool> {
        let dead = self.dead_letter(handle).await?;
        let Some(dead) = dead else { return Ok(false) };
        let mut job = dead.job;
        job.tries = 0;
        job.handle.clear();
        let moved: i64 = self
            .requeue
            .key(self.keys.outbox_dead())
            .key(self.keys.outbox_ready())
            .arg(handle)
            .arg(to_json(&job)?)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(moved == 1)
    }
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> RedisQueue<C> {
    async fn dead_letter(&self, handle: &str) -> StoreResult<Option<DeadLetter>> {
        // Stream ids are `<ms>-<seq>`, each a u64 (Redis refuses larger ones with an error);
        // anything else is not one of ours.
        let plausible = handle.split_once('-').is_some_and(|(a, b)| {
            [a, b].iter().all(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) && n.parse::<u64>().is_ok())
        });
        if !plausible {
            return Ok(None);
        }
        Ok(self.read_dead("XRANGE", handle, handle, 1).await?.pop())
    }

    /// Dead letters in `[from, to]` (`command` is XRANGE or XREVRANGE), at most `count`. A
    /// letter that does not parse is skipped (and logged), so it cannot hide the others.
    async fn read_dead(&self, command: &str, from: &str, to: &str, count: usize) -> StoreResult<Vec<DeadLetter>> {
        type Entry = (String, std::collections::HashMap<String, String>);
        let entries: Vec<Entry> = redis::cmd(command)
            .arg(self.keys.outbox_dead())
            .arg(from)
            .arg(to)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let raw = fields.get("dead").map_or("", String::as_str);
                match serde_json::from_str::<DeadLetter>(raw) {
                    Ok(mut dead) => {
                        dead.handle = id;
                        Some(dead)
                    }
                    Err(_) => {
                        tracing::error!(%id, "a dead letter cannot be read; skipped");
                        None
                    }
                }
            })
            .collect())
    }
}
