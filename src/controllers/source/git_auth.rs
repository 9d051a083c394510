//! Git credentials read from a GitRepository's `secretRef` Secret (`data`, base64 values).

use base64::Engine;
use serde_json::Value;
use thiserror::Error;

/// The Secret could not be turned into credentials.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// `data` is not an object.
    #[error("secret data must be an object of base64 strings")]
    NotAnObject,
    /// A value is not a string.
    #[error("secret key '{0}' must be a base64 string")]
    NotAString(String),
    /// A value is not valid base64.
    #[error("secret key '{0}' is not valid base64")]
    NotBase64(String),
    /// A textual value is not UTF-8.
    #[error("secret key '{0}' is not valid UTF-8")]
    NotUtf8(String),
    /// A key needed for this transport is absent or empty.
    #[error("invalid '{transport}' auth option: secret is missing key '{key}'")]
    Missing {
        /// `ssh`, `http` or `https`.
        transport: &'static str,
        /// The key.
        key: &'static str,
    },
    /// Keys that need each other do not come together.
    #[error("invalid '{transport}' auth option: {message}")]
    Invalid {
        /// `ssh`, `http` or `https`.
        transport: &'static str,
        /// What is wrong.
        message: &'static str,
    },
}

/// SSH credentials: private key, known hosts, optional key passphrase.
#[derive(Clone, PartialEq, Eq)]
pub struct SshAuth {
    /// Private key (PEM/OpenSSH format).
    pub identity: Vec<u8>,
    /// `known_hosts` lines.
    pub known_hosts: Vec<u8>,
    /// Passphrase of the key.
    pub password: Option<String>,
}

/// How to authenticate against the server.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum GitCredentials {
    /// Anonymous.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// `username`.
        username: String,
        /// `password` (may be empty).
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// SSH key.
    Ssh(SshAuth),
}

/// Credentials plus TLS material for one repository.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct GitAuth {
    /// The credentials.
    pub credentials: GitCredentials,
    /// Extra trusted CA certificates, PEM (`ca.crt`, or the legacy `caFile`).
    pub ca_cert: Option<Vec<u8>>,
    /// Client certificate and key, PEM (`tls.crt`, `tls.key`), for mutual TLS.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

// Secrets must never show up in logs.
impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.credentials {
            GitCredentials::None => "none",
            GitCredentials::Basic { .. } => "basic",
            GitCredentials::Bearer(_) => "bearer",
            GitCredentials::Ssh(_) => "ssh",
        };
        f.debug_struct("GitAuth")
            .field("credentials", &kind)
            .field("ca_cert", &self.ca_cert.is_some())
            .field("client_cert", &self.client_cert.is_some())
            .finish()
    }
}

impl std::fmt::Debug for SshAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SshAuth { .. }")
    }
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitCredentials::None => f.write_str("None"),
            GitCredentials::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, .. }}")
            }
            GitCredentials::Bearer(_) => f.write_str("Bearer(..)"),
            GitCredentials::Ssh(_) => f.write_str("Ssh(..)"),
        }
    }
}

fn decode(data: &serde_json::Map<String, Value>, key: &str) -> Result<Option<Vec<u8>>, AuthError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|_| AuthError::NotBase64(key.to_string()))?;
            Ok((!bytes.is_empty()).then_some(bytes))
        }
        Some(_) => Err(AuthError::NotAString(key.to_string())),
    }
}

fn decode_text(
    data: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, AuthError> {
    decode(data, key)?
        .map(|b| String::from_utf8(b).map_err(|_| AuthError::NotUtf8(key.to_string())))
        .transpose()
}

impl GitAuth {
    /// Reads a Secret's `data` for `url` the way source-controller does: SSH URLs need `identity`
    /// and `known_hosts` (`password` optional); HTTP(S) use `bearerToken` if present, else
    /// `username`/`password`; `ca.crt` (or `caFile`) and `tls.crt`/`tls.key` apply to HTTPS.
    pub fn from_secret_data(url: &str, data: &Value) -> Result<GitAuth, AuthError> {
        let Value::Object(data) = data else {
            return Err(AuthError::NotAnObject);
        };
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        let is_ssh = match scheme.as_deref() {
            Some("ssh") => true,
            Some(_) => false,
            // scp-like `git@host:path` is SSH too.
            None => url.contains('@') && url.contains(':'),
        };
        let ca_cert = match decode(data, "ca.crt")? {
            Some(ca) => Some(ca),
            None => decode(data, "caFile")?,
        };
        if is_ssh {
            let transport = "ssh";
            let identity = decode(data, "identity")?.ok_or(AuthError::Missing {
                transport,
                key: "identity",
            })?;
            let known_hosts = decode(data, "known_hosts")?.ok_or(AuthError::Missing {
                transport,
                key: "known_hosts",
            })?;
            return Ok(GitAuth {
                credentials: GitCredentials::Ssh(SshAuth {
                    identity,
                    known_hosts,
                    password: decode_text(data, "password")?,
                }),
                ca_cert: None,
                client_cert: None,
            });
        }
        let transport = if scheme.as_deref() == Some("http") {
            "http"
        } else {
            "https"
        };
        let client_cert = match (decode(data, "tls.crt")?, decode(data, "tls.key")?) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(AuthError::Missing {
                    transport,
                    key: "tls.key",
                });
            }
            (None, Some(_)) => {
                return Err(AuthError::Missing {
                    transport,
                    key: "tls.crt",
                });
            }
        };
        let credentials = if let Some(token) = decode_text(data, "bearerToken")? {
            GitCredentials::Bearer(token)
        } else {
            match (
                decode_text(data, "username")?,
                decode_text(data, "password")?,
            ) {
                (Some(username), password) => GitCredentials::Basic {
                    username,
                    password: password.unwrap_or_default(),
                },
                (None, Some(_)) => {
                    return Err(AuthError::Invalid {
                        transport,
                        message: "'password' requires 'username' to be set",
                    });
                }
                (None, None) => GitCredentials::None,
            }
        };
        Ok(GitAuth {
            credentials,
            ca_cert,
            client_cert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_bearer_and_ca() {
        let a = GitAuth::from_secret_data(
            "https://h/r.git",
            &json!({"username": b64("u"), "password": b64("p"), "ca.crt": b64("PEM")}),
        )
        .unwrap();
        assert_eq!(
            a.credentials,
            GitCredentials::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(a.ca_cert.as_deref(), Some(&b"PEM"[..]));
        let b = GitAuth::from_secret_data(
            "https://h/r.git",
            &json!({"bearerToken": b64("t"), "username": b64("u")}),
        )
        .unwrap();
        assert_eq!(b.credentials, GitCredentials::Bearer("t".into()));
        let none = GitAuth::from_secret_data("https://h/r.git", &json!({})).unwrap();
        assert_eq!(none.credentials, GitCredentials::None);
    }

    #[test]
    fn ssh_needs_identity_and_known_hosts() {
        let err =
            GitAuth::from_secret_data("ssh://git@h/r.git", &json!({"known_hosts": b64("kh")}))
                .unwrap_err();
        assert_eq!(
            err,
            AuthError::Missing {
                transport: "ssh",
                key: "identity"
            }
        );
        assert!(err.to_string().contains("'identity'"));
        let err = GitAuth::from_secret_data("ssh://git@h/r.git", &json!({"identity": b64("k")}))
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::Missing {
                transport: "ssh",
                key: "known_hosts"
            }
        );
        let ok = GitAuth::from_secret_data(
            "git@github.com:org/repo.git",
            &json!({"identity": b64("k"), "known_hosts": b64("kh"), "password": b64("pw")}),
        )
        .unwrap();
        let GitCredentials::Ssh(ssh) = ok.credentials else {
            panic!("not ssh")
        };
        assert_eq!(ssh.password.as_deref(), Some("pw"));
    }

    #[test]
    fn malformed_data_is_an_error() {
        let url = "https://h/r.git";
        assert_eq!(
            GitAuth::from_secret_data(url, &json!([1])).unwrap_err(),
            AuthError::NotAnObject
        );
        assert_eq!(
            GitAuth::from_secret_data(url, &json!({"username": 1})).unwrap_err(),
            AuthError::NotAString("username".into())
        );
        assert_eq!(
            GitAuth::from_secret_data(url, &json!({"username": "%%%"})).unwrap_err(),
            AuthError::NotBase64("username".into())
        );
        assert_eq!(
            GitAuth::from_secret_data(url, &json!({"username": "/w=="})).unwrap_err(),
            AuthError::NotUtf8("username".into())
        );
        assert!(matches!(
            GitAuth::from_secret_data(url, &json!({"password": b64("p")})).unwrap_err(),
            AuthError::Invalid { .. }
        ));
        assert_eq!(
            GitAuth::from_secret_data(url, &json!({"tls.crt": b64("c")})).unwrap_err(),
            AuthError::Missing {
                transport: "https",
                key: "tls.key"
            }
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let a = GitAuth::from_secret_data(
            "https://h/r.git",
            &json!({"username": b64("alice"), "password": b64("hunter2")}),
        )
        .unwrap();
        let shown = format!("{a:?} {:?}", a.credentials);
        assert!(!shown.contains("hunter2"));
    }
}
