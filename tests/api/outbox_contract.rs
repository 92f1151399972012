//! The outbox queue contract: the same checks against the memory queue, a real Redis Stream and
//! a Redis Cluster.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use latchkey::store::{Keys, MemoryQueue, OutboxStore, QueuedJob, RedisQueue, RedisStore};

use crate::helpers::redis_url;

fn redis_queue() -> Arc<dyn OutboxStore> {
    let prefix = format!("queue:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let store = RedisStore::connect(&redis_url(), Keys::new(prefix.clone())).unwrap();
    let blocking = store.dedicated_connection(Some(Duration::from_secs(15))).unwrap();
    Arc::new(RedisQueue::new(store.connection(), blocking, Keys::new(prefix)))
}

fn cluster_queue() -> Arc<dyn OutboxStore> {
    crate::helpers::init_process();
    let prefix = format!("queue:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let store = crate::helpers::cluster::cluster_store(&prefix);
    let blocking = store.dedicated_connection(Some(Duration::from_secs(15))).unwrap();
    Arc::new(RedisQueue::new(store.connection(), blocking, Keys::new(prefix)))
}

fn memory_queue() -> Arc<dyn OutboxStore> {
    Arc::new(MemoryQueue::new())
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::memory_queue()).await; })*
        }
        mod redis {
            $(#[tokio::test] async fn $name() { super::$name(super::redis_queue()).await; })*
        }
        mod cluster {
            $(#[tokio::test] async fn $name() { super::$name(super::cluster_queue()).await; })*
        }
    };
}

contract!(
    a_pushed_job_is_claimed_once_and_gone_when_acked,
    concurrent_claims_never_share_a_job,
    a_rescheduled_job_waits_until_it_is_due,
    a_job_held_past_the_lease_is_taken_over_and_the_slow_worker_cannot_settle_it,
    a_buried_job_is_listed_and_requeued_once,
    a_waiting_claim_gets_a_job_pushed_meanwhile,
);

fn job(id: &str) -> QueuedJob {
    QueuedJob {
        handle: String::new(),
        holder: String::new(),
        id: id.to_owned(),
        kind: "mail".to_owned(),
        to: "u***@e***.com".to_owned(),
        sealed: format!("sealed-{id}"),
        tries: 0,
        deliver_by: None,
        queued_at: Utc::now().timestamp_millis(),
        last_error: None,
    }
}

async fn a_pushed_job_is_claimed_once_and_gone_when_acked(q: Arc<dyn OutboxStore>) {
    for id in ["a", "b", "c"] {
        q.push(&job(id)).await.unwrap();
    }
    assert_eq!(q.outbox_stats().await.unwrap().ready, 3);
    let claimed = q.claim("w1", 10, Duration::ZERO).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"], "in order");
    assert!(claimed.iter().all(|j| !j.handle.is_empty() && j.sealed == format!("sealed-{}", j.id)));
    assert!(q.claim("w2", 10, Duration::ZERO).await.unwrap().is_empty(), "claimed twice");
    let stats = q.outbox_stats().await.unwrap();
    assert_eq!((stats.ready, stats.in_flight), (0, 3));
    for j in &claimed {
        assert!(q.ack(j).await.unwrap());
    }
    assert_eq!(q.outbox_stats().await.unwrap(), Default::default());
}

async fn concurrent_claims_never_share_a_job(q: Arc<dyn OutboxStore>) {
    for i in 0..40 {
        q.push(&job(&format!("j{i}"))).await.unwrap();
    }
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let q = q.clone();
            tokio::spawn(async move { q.claim(&format!("w{w}"), 40, Duration::ZERO).await.unwrap() })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap().into_iter().map(|j| j.id));
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 40);
    assert_eq!(distinct.len(), 40, "a job went to two workers");
}

async fn a_rescheduled_job_waits_until_it_is_due(q: Arc<dyn OutboxStore>) {
    q.push(&job("later")).await.unwrap();
    let mut held = q.claim("w1", 1, Duration::ZERO).await.unwrap().remove(0);
    held.tries = 1;
    held.last_error = Some("451".into());
    let now = Utc::now();
    assert!(q.retry_at(&held, now + chrono::Duration::hours(1)).await.unwrap());
    let stats = q.outbox_stats().await.unwrap();
    assert_eq!((stats.in_flight, stats.scheduled), (0, 1));
    assert_eq!(q.promote_due(now, 10).await.unwrap(), 0);
    assert!(q.claim("w1", 1, Duration::ZERO).await.unwrap().is_empty(), "ready before it was due");
    assert_eq!(q.promote_due(now + chrono::Duration::hours(2), 10).await.unwrap(), 1);
    let again = q.claim("w2", 1, Duration::ZERO).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].tries), ("later", 1));
    assert_eq!(again[0].last_error.as_deref(), Some("451"));
    assert_eq!(q.promote_due(now + chrono::Duration::hours(2), 10).await.unwrap(), 0, "promoted twice");
}

async fn a_job_held_past_the_lease_is_taken_over_and_the_slow_worker_cannot_settle_it(q: Arc<dyn OutboxStore>) {
    q.push(&job("orphan")).await.unwrap();
    let slow = q.claim("slow-worker", 1, Duration::ZERO).await.unwrap().remove(0);
    assert!(q.reclaim("w2", Duration::from_secs(3600), 10).await.unwrap().is_empty(), "taken within the lease");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = q.reclaim("w2", Duration::from_millis(10), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, "orphan");
    // The slow worker comes back: it can no longer ack, reschedule or bury what it lost.
    assert!(!q.ack(&slow).await.unwrap());
    assert!(!q.retry_at(&slow, Utc::now()).await.unwrap());
    assert!(!q.bury(&slow, "late", Utc::now()).await.unwrap());
    let stats = q.outbox_stats().await.unwrap();
    assert_eq!((stats.in_flight, stats.scheduled, stats.dead), (1, 0, 0), "the slow worker undid the take-over");
    assert!(q.ack(&taken[0]).await.unwrap());
    assert_eq!(q.outbox_stats().await.unwrap().in_flight, 0);
}

async fn a_buried_job_is_listed_and_requeued_once(q: Arc<dyn OutboxStore>) {
    q.push(&job("hopeless")).await.unwrap();
    let mut held = q.claim("w1", 1, Duration::ZERO).await.unwrap().remove(0);
    held.tries = 3;
    assert!(q.bury(&held, "gave up after 3 tries", Utc::now()).await.unwrap());
    let stats = q.outbox_stats().await.unwrap();
    assert_eq!((stats.in_flight, stats.dead), (0, 1));
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].job.id.as_str(), dead[0].job.tries), ("hopeless", 3));
    assert_eq!(dead[0].reason, "gave up after 3 tries");
    assert!(q.requeue_dead(&dead[0].handle).await.unwrap());
    assert!(!q.requeue_dead(&dead[0].handle).await.unwrap(), "requeued twice");
    assert!(!q.requeue_dead("0-1").await.unwrap());
    let again = q.claim("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].tries), ("hopeless", 0));
    assert_eq!(q.outbox_stats().await.unwrap().dead, 0);
}

async fn a_waiting_claim_gets_a_job_pushed_meanwhile(q: Arc<dyn OutboxStore>) {
    // Create the group (Redis) before the wait, as a running worker would have.
    assert!(q.claim("w1", 1, Duration::ZERO).await.unwrap().is_empty());
    let waiting = {
        let q = q.clone();
        tokio::spawn(async move { q.claim("w1", 1, Duration::from_secs(10)).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    q.push(&job("awaited")).await.unwrap();
    let got = waiting.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "awaited");
}
