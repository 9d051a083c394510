//! The workload simulator: makes Deployments, StatefulSets, DaemonSets roll out, Jobs complete,
//! LoadBalancer Services get an address and PVCs bind, by acting as a client of the cluster's own API.
//!
//! API contract: [`SimulatorOptions`], [`run`], and the pure [`simulate`] step it is built on.

use serde_json::Value;
use std::time::Duration;

/// Tuning for the simulator.
#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    /// How long after a spec change a rollout takes to converge (default 2 s).
    pub rollout_delay: Duration,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        SimulatorOptions {
            rollout_delay: Duration::from_secs(2),
        }
    }
}

/// What the simulator wants written for one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to do now.
    Idle,
    /// Write this `status` (through the status subresource).
    SetStatus(Value),
    /// Look at the object again after this long.
    RecheckAfter(Duration),
}

/// Decides the next step for `object` given how long ago its current generation was first seen.
pub fn simulate(
    _object: &Value,
    _since_generation: Duration,
    _opts: &SimulatorOptions,
) -> Vec<Step> {
    Vec::new()
}

/// Runs the simulator against a cluster through `client` until `shutdown` resolves.
pub async fn run(
    _client: kube::Client,
    _opts: SimulatorOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    shutdown.await
}
