//! Errors of the watch layer, kubeconfig loading, fetches and actions.

use std::path::PathBuf;

/// What went wrong in the client side of flotilla.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A kubeconfig file could not be read, parsed or merged.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No kubeconfig file exists at any of the places looked at.
    #[error("no kubeconfig found (looked at {looked_at}); pass --kubeconfig or set KUBECONFIG")]
    NoKubeconfig {
        /// Where flotilla looked.
        looked_at: String,
    },
    /// A context named on the command line is not in the kubeconfig.
    #[error("context {name:?} is not in the kubeconfig (known contexts: {known})")]
    UnknownContext {
        /// The name asked for.
        name: String,
        /// The known context names, comma-separated.
        known: String,
    },
    /// A client could not be configured for a context.
    #[error("context {context}: cannot build a client: {message}")]
    ClientConfig {
        /// The context.
        context: String,
        /// Why.
        message: String,
    },
    /// The kind is not a GitOps kind flotilla knows.
    #[error("unknown kind {0:?}")]
    UnknownKind(String),
    /// The object does not exist.
    #[error("context {context}: {kind} {namespace}/{name} not found")]
    NotFound {
        /// The context.
        context: String,
        /// The kind.
        kind: String,
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
    /// The API refused the request with 401 or 403.
    #[error("context {context}: forbidden: {message}")]
    Forbidden {
        /// The context.
        context: String,
        /// The server's message.
        message: String,
    },
    /// The API answered with another error status.
    #[error("context {context}: {what} failed: {message}")]
    Api {
        /// The context.
        context: String,
        /// What was attempted (`get Kustomization flux-system/apps`).
        what: String,
        /// The HTTP status code.
        code: u16,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("context {context}: {what} failed: cannot reach the server: {message}")]
    Unreachable {
        /// The context.
        context: String,
        /// What was attempted.
        what: String,
        /// The transport error.
        message: String,
    },
    /// The server did not answer in time.
    #[error("context {context}: {what} timed out after {seconds} s")]
    Timeout {
        /// The context.
        context: String,
        /// What was attempted.
        what: String,
        /// The timeout.
        seconds: u64,
    },
    /// An action does not apply to this object or its current state.
    #[error("{action} on {target}: {reason}")]
    Refused {
        /// The action's name.
        action: &'static str,
        /// `Kind ns/name`.
        target: String,
        /// Why (e.g. `resource is suspended`).
        reason: String,
    },
    /// Sessions need a tokio runtime.
    #[error("the watch layer needs a tokio runtime: start it from inside one")]
    NoRuntime,
}

/// How a kube error should be treated by a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 401/403: show as forbidden.
    Forbidden(String),
    /// 404: the resource type went away (or the object did).
    NotFound(String),
    /// 410: history expired; a re-list follows.
    Gone(String),
    /// Any other answer from the server.
    Api(u16, String),
    /// The server could not be reached.
    Transport(String),
}

impl Failure {
    /// The human-readable message.
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Forbidden(m)
            | Failure::NotFound(m)
            | Failure::Gone(m)
            | Failure::Api(_, m)
            | Failure::Transport(m) => m,
        }
    }

    /// Classifies an error status.
    pub(crate) fn from_status(status: &kube::core::Status) -> Failure {
        let message = if status.message.is_empty() {
            format!("{} ({})", status.reason, status.code)
        } else {
            status.message.clone()
        };
        match status.code {
            401 => Failure::Forbidden(format!("unauthorized: {message}")),
            403 => Failure::Forbidden(message),
            404 => Failure::NotFound(message),
            410 => Failure::Gone(message),
            code => Failure::Api(code, message),
        }
    }

    /// Classifies a kube client error.
    pub(crate) fn from_kube(e: &kube::Error) -> Failure {
        match e {
            kube::Error::Api(status) => Failure::from_status(status),
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                Failure::Transport(error_chain(e))
            }
            kube::Error::Discovery(d) => Failure::Api(0, d.to_string()),
            other => Failure::Api(0, error_chain(other)),
        }
    }

    /// Classifies a kube-runtime watcher error.
    pub(crate) fn from_watcher(e: &kube::runtime::watcher::Error) -> Failure {
        use kube::runtime::watcher::Error as W;
        match e {
            W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => {
                Failure::from_kube(e)
            }
            W::WatchError(status) => Failure::from_status(status),
            W::NoResourceVersion => Failure::Api(0, e.to_string()),
        }
    }

    /// Turns the failure into a [`ClusterError`] for `what` in `context`.
    pub(crate) fn into_error(self, context: &str, what: String) -> ClusterError {
        let context = context.to_string();
        match self {
            Failure::Forbidden(message) => ClusterError::Forbidden { context, message },
            Failure::Transport(message) => ClusterError::Unreachable {
                context,
                what,
                message,
            },
            Failure::NotFound(message) => ClusterError::Api {
                context,
                what,
                code: 404,
                message,
            },
            Failure::Gone(message) => ClusterError::Api {
                context,
                what,
                code: 410,
                message,
            },
            Failure::Api(code, message) => ClusterError::Api {
                context,
                what,
                code,
                message,
            },
        }
    }
}

pub(crate) use crate::model::error_text::error_chain;
