//! [`DeviceStore`](crate::store::DeviceStore) in memory: known devices and "this wasn't me" links.

use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::domain::UserId;
use crate::store::{DeviceStore, Report, StoreResult};

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn add_device(&self, user: &UserId, device: &str) -> StoreResult<(bool, usize)> {
        let mut state = self.lock();
        let known = state.devices.entry(user.clone()).or_default();
        let before = known.len();
        Ok((known.insert(device.to_owned()), before))
    }

    async fn set_user_lang(&self, user: &UserId, tag: &str) -> StoreResult<()> {
        self.lock().langs.insert(user.clone(), tag.to_owned());
        Ok(())
    }

    async fn user_lang(&self, user: &UserId) -> StoreResult<Option<String>> {
        Ok(self.lock().langs.get(user).cloned())
    }

    async fn count_devices(&self, user: &UserId) -> StoreResult<usize> {
        Ok(self.lock().devices.get(user).map_or(0, |d| d.len()))
    }

    async fn remove_device(&self, user: &UserId, device: &str) -> StoreResult<()> {
        if let Some(known) = self.lock().devices.get_mut(user) {
            known.remove(device);
        }
        Ok(())
    }

    async fn put_report(&self, id: &str, report: &Report, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().reports.insert(id.to_owned(), Expiring::new(report.clone(), ttl));
        Ok(())
    }

    async fn take_report(&self, id: &str) -> StoreResult<Option<Report>> {
        Ok(self.lock().reports.remove(id).filter(|e| e.live()).map(|e| e.value))
    }

    async fn peek_report(&self, id: &str) -> StoreResult<Option<Report>> {
        Ok(self.lock().reports.get(id).filter(|e| e.live()).map(|e| e.value.clone()))
    }
}
