//! Private keys that open a file's data key: age X25519 identities and OpenPGP secret keys.

use std::io::Read;
use std::str::FromStr;

use pgp::composed::{Deserializable, Message, SignedSecretKey};
use pgp::types::{KeyDetails, Password};
use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::error::SopsError;
use super::metadata::Metadata;

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An age identity line does not parse.
    #[error("{source_name}: line {line}: not an age identity (AGE-SECRET-KEY-1…)")]
    Age {
        /// Where the key came from (file or Secret entry).
        source_name: String,
        /// 1-based line.
        line: usize,
    },
    /// An armored OpenPGP key does not parse.
    #[error("{source_name}: not an armored OpenPGP secret key: {message}")]
    Pgp {
        /// Where the key came from.
        source_name: String,
        /// Parser message.
        message: String,
    },
    /// A key file is neither.
    #[error("{source_name}: neither an age identity nor an armored OpenPGP secret key")]
    Unknown {
        /// Where the key came from.
        source_name: String,
    },
}

/// The keys offered for decryption. Dropped after use; age identities zeroize themselves.
#[derive(Default)]
pub struct KeyRing {
    age: Vec<age::x25519::Identity>,
    /// The `age1…` recipient of each identity (same order), to pick the identity a stanza names.
    age_public: Vec<String>,
    pgp: Vec<SignedSecretKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyRing({} age identities, {} OpenPGP keys)",
            self.age.len(),
            self.pgp.len()
        )
    }
}

impl KeyRing {
    /// An empty key ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no key was added.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.pgp.is_empty()
    }

    /// Adds the identities of an age key file (`AGE-SECRET-KEY-1…` lines; `#` comments and blank
    /// lines skipped). Returns how many were added.
    pub fn add_age(&mut self, source_name: &str, text: &str) -> Result<usize, KeyError> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| KeyError::Age {
                source_name: source_name.to_string(),
                line: i + 1,
            })?;
            self.age_public.push(id.to_public().to_string());
            self.age.push(id);
            n += 1;
        }
        Ok(n)
    }

    /// Adds the secret keys of an armored OpenPGP key block (one or more keys).
    pub fn add_pgp(&mut self, source_name: &str, armored: &str) -> Result<usize, KeyError> {
        let err = |message: String| KeyError::Pgp {
            source_name: source_name.to_string(),
            message,
        };
        let (keys, _) =
            SignedSecretKey::from_string_many(armored).map_err(|e| err(e.to_string()))?;
        let mut n = 0;
        for k in keys {
            self.pgp.push(k.map_err(|e| err(e.to_string()))?);
            n += 1;
        }
        if n == 0 {
            return Err(err("no key found".into()));
        }
        Ok(n)
    }

    /// Adds a key file of either kind, told apart by content.
    pub fn add_key_file(&mut self, source_name: &str, bytes: &[u8]) -> Result<usize, KeyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| KeyError::Unknown {
            source_name: source_name.to_string(),
        })?;
        if text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            self.add_pgp(source_name, text)
        } else if text.contains("AGE-SECRET-KEY-") {
            self.add_age(source_name, text)
        } else {
            Err(KeyError::Unknown {
                source_name: source_name.to_string(),
            })
        }
    }

    /// Opens the data key of `file` with the first recipient one of these keys matches.
    pub fn data_key(&self, file: &str, md: &Metadata) -> Result<DataKey, SopsError> {
        // Each try costs an X25519 multiplication: first the identity each stanza names as its
        // recipient, then (recipient missing or not matching) every identity on every stanza.
        for stanza in &md.age {
            let named = self
                .age_public
                .iter()
                .position(|p| *p == stanza.recipient.trim());
            if let Some(i) = named
                && let Some(k) = open_age(&self.age[i..=i], &stanza.enc)
            {
                return to_data_key(file, k);
            }
        }
        for stanza in &md.age {
            if let Some(k) = open_age(&self.age, &stanza.enc) {
                return to_data_key(file, k);
            }
        }
        for stanza in &md.pgp {
            if let Some(k) = self.open_pgp(&stanza.enc) {
                return to_data_key(file, k);
            }
        }
        if md.age.is_empty() && md.pgp.is_empty() && !md.unsupported.is_empty() {
            return Err(SopsError::Unsupported {
                file: file.to_string(),
                message: format!(
                    "the data key is only encrypted to {} keys, which are not supported here (only age and OpenPGP are)",
                    md.unsupported.join(", ")
                ),
            });
        }
        let mut recipients: Vec<String> = md
            .age
            .iter()
            .map(|a| format!("age {}", a.recipient))
            .chain(md.pgp.iter().map(|p| format!("pgp {}", p.fingerprint)))
            .collect();
        recipients.extend(
            md.unsupported
                .iter()
                .map(|k| format!("{k} (not supported here)")),
        );
        let offered: Vec<String> = self
            .age
            .iter()
            .map(|i| format!("age {}", i.to_public()))
            .chain(
                self.pgp
                    .iter()
                    .map(|k| format!("pgp {}", hex_upper(k.fingerprint().as_bytes()))),
            )
            .collect();
        Err(SopsError::DataKey {
            file: file.to_string(),
            message: format!(
                "none of the offered keys [{}] can decrypt it; the file is encrypted for [{}]",
                offered.join(", "),
                recipients.join(", ")
            ),
        })
    }

    fn open_pgp(&self, enc: &str) -> Option<Zeroizing<Vec<u8>>> {
        for key in &self.pgp {
            let Ok((msg, _)) = Message::from_string(enc) else {
                return None;
            };
            let Ok(mut m) = msg.decrypt(&Password::empty(), key) else {
                continue;
            };
            if m.is_compressed() {
                match m.decompress() {
                    Ok(d) => m = d,
                    Err(_) => continue,
                }
            }
            if let Ok(data) = m.as_data_vec() {
                return Some(Zeroizing::new(data));
            }
        }
        None
    }
}

/// Opens an armored age file (a stanza's `enc`) with `identities`.
fn open_age(identities: &[age::x25519::Identity], enc: &str) -> Option<Zeroizing<Vec<u8>>> {
    if identities.is_empty() || enc.is_empty() {
        return None;
    }
    let reader = age::armor::ArmoredReader::new(enc.as_bytes());
    let decryptor = age::Decryptor::new(reader).ok()?;
    let mut r = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .ok()?;
    let mut out = Zeroizing::new(Vec::with_capacity(32));
    r.read_to_end(&mut out).ok()?;
    Some(out)
}

fn to_data_key(file: &str, bytes: Zeroizing<Vec<u8>>) -> Result<DataKey, SopsError> {
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(SopsError::DataKey {
            file: file.to_string(),
            message: format!("the data key has {} bytes, expected 32", bytes.len()),
        });
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The public recipient (`age1…`) of each age identity in `text`, for tests and messages.
pub fn age_recipients(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| age::x25519::Identity::from_str(l.trim()).ok())
        .map(|i| i.to_public().to_string())
        .collect()
}
