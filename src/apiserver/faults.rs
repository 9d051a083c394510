//! Fault injection: close watches, compact history, fail the next requests, add latency.

use super::errors::{ApiError, reason_for_code};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared fault state of one cluster.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    /// Requests still to fail, with their status and Retry-After.
    fail: Mutex<Option<(u32, u16, Option<u32>)>>,
    /// Added latency in milliseconds.
    latency_ms: AtomicU64,
}

impl FaultState {
    /// The latency to add to a request, if any.
    pub(crate) fn latency(&self) -> Option<Duration> {
        match self.latency_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn fail_next(&self, count: u32, status: u16, retry_after: Option<u32>) {
        let mut f = self.fail.lock().unwrap_or_else(|e| e.into_inner());
        *f = (count > 0).then_some((count, status, retry_after));
    }

    /// Consumes one injected failure, if any is pending.
    pub(crate) fn take_failure(&self) -> Option<ApiError> {
        let mut f = self.fail.lock().unwrap_or_else(|e| e.into_inner());
        let (count, status, retry) = (*f)?;
        *f = (count > 1).then_some((count - 1, status, retry));
        let status = if (400..600).contains(&status) {
            status
        } else {
            500
        };
        let mut e = ApiError::new(
            status,
            reason_for_code(status),
            format!("injected fault: the server answered {status}"),
        );
        e.retry_after = retry.or((status == 429).then_some(1));
        Some(e)
    }
}

/// Fault injection handle (cheap clone). Also reachable over HTTP: `POST /flotilla/admin/faults` with
/// `{"closeWatches":true}`, `{"compactHistory":true}`,
/// `{"failNext":{"count":5,"status":500,"retryAfterSeconds":1}}` or `{"latencyMs":200}`.
#[derive(Clone)]
pub struct Faults {
    pub(crate) cluster: Arc<super::Inner>,
}

impl Faults {
    /// Ends every open watch stream now (cleanly, like a timeout).
    pub fn close_watches(&self) {
        self.cluster.close_watches();
    }

    /// Forgets the event ring: any watch from an older RV gets ERROR 410.
    pub fn compact_history(&self) {
        self.cluster.lock().store.compact();
    }

    /// The next `count` API requests fail with `status` (429 carries Retry-After).
    pub fn fail_next(&self, count: u32, status: u16, retry_after_seconds: Option<u32>) {
        self.cluster
            .faults
            .fail_next(count, status, retry_after_seconds);
    }

    /// Adds `latency` to every API request; ZERO turns it off.
    pub fn set_latency(&self, latency: Duration) {
        self.cluster.faults.set_latency(latency);
    }

    /// Applies a JSON fault request (the admin endpoint's body).
    pub(crate) fn apply_json(&self, body: &serde_json::Value) -> Result<(), ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ApiError::bad_request("fault request must be a JSON object"));
        };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "closeWatches" | "compactHistory" | "failNext" | "latencyMs"
            ) {
                return Err(ApiError::bad_request(format!("unknown fault {key:?}")));
            }
        }
        if let Some(f) = obj.get("failNext") {
            let count = f.get("count").and_then(|v| v.as_u64()).unwrap_or(1);
            let status = f.get("status").and_then(|v| v.as_u64()).unwrap_or(500);
            let retry = f.get("retryAfterSeconds").and_then(|v| v.as_u64());
            self.fail_next(
                u32::try_from(count).unwrap_or(u32::MAX),
                u16::try_from(status).unwrap_or(500),
                retry.map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
            );
        }
        if let Some(ms) = obj.get("latencyMs") {
            let ms = ms
                .as_u64()
                .ok_or_else(|| ApiError::bad_request("latencyMs must be a non-negative integer"))?;
            self.set_latency(Duration::from_millis(ms));
        }
        if obj.get("compactHistory").and_then(|v| v.as_bool()) == Some(true) {
            self.compact_history();
        }
        if obj.get("closeWatches").and_then(|v| v.as_bool()) == Some(true) {
            self.close_watches();
        }
        Ok(())
    }
}
