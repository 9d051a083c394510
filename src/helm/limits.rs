//! Execution limits, so that no template (a hostile chart, a fuzz input) can hang the renderer or
//! exhaust memory: a step budget per render (actions, function calls, range iterations and the
//! nodes `toYaml`/`toJson`/`deepCopy`/printing walk), a cap on the size of any string or list a
//! function builds, a cap on value nesting (self-referencing maps made with `set` have no bottom),
//! and a switch for the CPU-bound key generation and password hashing functions.
//!
//! Helm itself has no such limits; the defaults sit far above what real charts use
//! (kube-prometheus-stack with grafana takes about a million steps). The state is per thread: a
//! render runs on one thread ([`super::chart::template`] starts it) and sets it with [`begin`].
//! Functions whose signatures cannot carry an error (the value walkers) *trip* the limit and
//! return early; the executor turns a tripped limit into a template error after each call.

use std::cell::{Cell, RefCell};

/// The limits of one render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Steps per render: template nodes, range iterations, function calls, walked value nodes.
    pub max_steps: u64,
    /// Largest string (bytes) or list (entries × 16) a function or template may produce.
    pub max_value_bytes: usize,
    /// Deepest value nesting the walkers descend into.
    pub max_value_depth: usize,
    /// Whether `genPrivateKey`, `genCA`, `genSelfSignedCert`, `genSignedCert`, `bcrypt`,
    /// `htpasswd` and `derivePassword` may run (each takes milliseconds to seconds by design).
    pub slow_crypto: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_steps: 200_000_000,
            max_value_bytes: 512 << 20,
            max_value_depth: 10_000,
            slow_crypto: true,
        }
    }
}

thread_local! {
    static LIMITS: Cell<Limits> = Cell::new(Limits::default());
    static STEPS: Cell<u64> = const { Cell::new(0) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static TRIPPED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Starts a render on this thread with `limits` (resets the step count and any tripped limit).
pub fn begin(limits: Limits) {
    LIMITS.with(|l| l.set(limits));
    STEPS.with(|s| s.set(0));
    DEPTH.with(|d| d.set(0));
    TRIPPED.with(|t| *t.borrow_mut() = None);
}

/// The limits in force on this thread.
pub fn current() -> Limits {
    LIMITS.with(Cell::get)
}

fn trip(msg: String) {
    TRIPPED.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            *t = Some(msg);
        }
    });
}

/// The first limit tripped since [`begin`], as an error message.
pub fn check() -> Result<(), String> {
    match TRIPPED.with(|t| t.borrow().clone()) {
        Some(msg) => Err(msg),
        None => Ok(()),
    }
}

/// Counts one step; `false` (and the limit tripped) once the budget is spent.
pub fn step() -> bool {
    let max = current().max_steps;
    let n = STEPS.with(|s| {
        let n = s.get().saturating_add(1);
        s.set(n);
        n
    });
    if n > max {
        trip(format!(
            "rendering exceeded {max} steps (the renderer's limit on template work)"
        ));
        return false;
    }
    true
}

/// Counts one step as a `Result` (for the executor).
pub fn step_checked() -> Result<(), String> {
    if step() { Ok(()) } else { check() }
}

/// Whether a value of `bytes` bytes may be built; trips the limit otherwise.
pub fn size_ok(bytes: usize) -> bool {
    let max = current().max_value_bytes;
    if bytes > max {
        trip(format!(
            "a value of {bytes} bytes exceeds the renderer's limit of {max} bytes"
        ));
        return false;
    }
    true
}

/// [`size_ok`] as a `Result`.
pub fn size_checked(bytes: usize) -> Result<(), String> {
    if size_ok(bytes) { Ok(()) } else { check() }
}

/// Whether the slow crypto functions may run; trips the limit otherwise.
pub fn slow_crypto_ok(name: &str) -> Result<(), String> {
    if current().slow_crypto {
        return Ok(());
    }
    let msg = format!("{name} is disabled by the renderer's limits");
    trip(msg.clone());
    Err(msg)
}

/// A level of value nesting entered by a walker; leaves it when dropped.
#[must_use]
pub struct Level(());

impl Drop for Level {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Enters one level of value nesting and counts a step: `None` (the limit tripped) when the value
/// is nested too deeply or the step budget is spent; the walker then stops descending.
pub fn descend() -> Option<Level> {
    if !step() {
        return None;
    }
    let max = current().max_value_depth;
    let d = DEPTH.with(|d| {
        let n = d.get() + 1;
        d.set(n);
        n
    });
    let level = Level(());
    if d > max {
        trip(format!(
            "a value nested deeper than {max} levels (a map that contains itself?)"
        ));
        return None;
    }
    Some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_trip_once_spent() {
        begin(Limits {
            max_steps: 3,
            ..Limits::default()
        });
        assert!(step() && step() && step());
        assert!(!step());
        assert!(check().unwrap_err().contains("3 steps"));
        begin(Limits::default());
        assert!(check().is_ok());
    }

    #[test]
    fn depth_is_released_by_levels() {
        begin(Limits {
            max_value_depth: 2,
            ..Limits::default()
        });
        {
            let _a = descend().unwrap();
            let _b = descend().unwrap();
            assert!(descend().is_none());
        }
        begin(Limits {
            max_value_depth: 2,
            ..Limits::default()
        });
        let _a = descend().unwrap();
        assert!(check().is_ok());
    }
}
