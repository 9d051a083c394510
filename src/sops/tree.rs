//! The ordered document tree sops works on, and its decryption walk (values, comments, MAC).

use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha512};

use super::cipher::{self, DataKey};
use super::error::SopsError;

/// A scalar value with the type sops tracks.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `null` (never encrypted, never hashed).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// Raw bytes (`type:bytes`).
    Bytes(Vec<u8>),
    /// A timestamp in RFC 3339 (`type:time`).
    Time(String),
}

/// A byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A leaf with where it came from, so text output can replace it in place.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The value (ciphertext before the walk, plaintext after it).
    pub value: Scalar,
    /// Its source range (YAML only).
    pub span: Option<Span>,
    /// Inside a flow collection (`{…}`/`[…]`): block scalars are not allowed there.
    pub flow: bool,
    /// Set by the walk when the value was decrypted.
    pub decrypted: bool,
}

impl Leaf {
    /// A leaf without a source position.
    pub fn new(value: Scalar) -> Self {
        Leaf {
            value,
            span: None,
            flow: false,
            decrypted: false,
        }
    }
}

/// A comment (encrypted comments are `ENC[…,type:comment]`).
#[derive(Debug, Clone)]
pub struct Comment {
    /// The text after `#`.
    pub text: String,
    /// Its source range, `#` included (YAML only).
    pub span: Option<Span>,
    /// Set by the walk when the comment was decrypted.
    pub decrypted: bool,
}

/// A node of the tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// A mapping, in document order.
    Map(Vec<Entry>),
    /// A sequence.
    List(Vec<Node>),
    /// A scalar.
    Leaf(Leaf),
    /// A comment between sequence items.
    Comment(Comment),
}

/// A mapping entry.
#[derive(Debug, Clone)]
pub enum Entry {
    /// `key: value`.
    Pair(String, Node),
    /// A comment between entries.
    Comment(Comment),
}

impl Node {
    /// The node as JSON (maps sorted, comments dropped).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Map(entries) => {
                let mut m = serde_json::Map::new();
                for e in entries {
                    if let Entry::Pair(k, v) = e {
                        m.insert(k.clone(), v.to_value());
                    }
                }
                Value::Object(m)
            }
            Node::List(items) => Value::Array(
                items
                    .iter()
                    .filter(|n| !matches!(n, Node::Comment(_)))
                    .map(Node::to_value)
                    .collect(),
            ),
            Node::Leaf(l) => scalar_value(&l.value),
            Node::Comment(_) => Value::Null,
        }
    }

    /// The value of top-level key `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find_map(|e| match e {
                Entry::Pair(k, v) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Removes top-level key `key` of a map, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let Node::Map(entries) = self else {
            return None;
        };
        let i = entries
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k == key))?;
        match entries.remove(i) {
            Entry::Pair(_, v) => Some(v),
            Entry::Comment(_) => None,
        }
    }
}

/// A scalar as JSON.
pub fn scalar_value(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Scalar::Str(s) | Scalar::Time(s) => Value::String(s.clone()),
        Scalar::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// Which values a file encrypts (`unencrypted_suffix`, `encrypted_regex`, …).
#[derive(Debug, Default, Clone)]
pub struct Rules {
    /// `unencrypted_suffix`.
    pub unencrypted_suffix: Option<String>,
    /// `encrypted_suffix`.
    pub encrypted_suffix: Option<String>,
    /// `unencrypted_regex`.
    pub unencrypted_regex: Option<Regex>,
    /// `encrypted_regex`.
    pub encrypted_regex: Option<Regex>,
    /// `mac_only_encrypted`: only encrypted values feed the MAC.
    pub mac_only_encrypted: bool,
}

impl Rules {
    /// sops' `shouldBeEncrypted` for a path of keys (comment rules are refused earlier).
    pub fn encrypted(&self, path: &[String]) -> bool {
        let mut enc = true;
        if let Some(s) = &self.unencrypted_suffix
            && path.iter().any(|p| p.ends_with(s.as_str()))
        {
            enc = false;
        }
        if let Some(s) = &self.encrypted_suffix {
            enc = path.iter().any(|p| p.ends_with(s.as_str()));
        }
        if let Some(r) = &self.unencrypted_regex
            && path.iter().any(|p| r.is_match(p))
        {
            enc = false;
        }
        if let Some(r) = &self.encrypted_regex {
            enc = path.iter().any(|p| r.is_match(p));
        }
        enc
    }
}

/// The constant sops feeds the hash first under `mac_only_encrypted` (sha256 of "sops").
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Decrypts every branch in place, in document order, and returns the MAC of the plaintext
/// (upper-case hex SHA-512, as sops prints it).
pub fn decrypt_branches(
    file: &str,
    branches: &mut [Node],
    key: &DataKey,
    rules: &Rules,
) -> Result<String, SopsError> {
    let mut walk = Walk {
        file,
        key,
        rules,
        hash: Sha512::new(),
        path: Vec::new(),
    };
    if rules.mac_only_encrypted {
        walk.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for b in branches.iter_mut() {
        walk.node(b)?;
    }
    let digest = walk.hash.finalize();
    Ok(digest.iter().map(|b| format!("{b:02X}")).collect())
}

/// Checks the file's MAC (`mac`, encrypted with `lastmodified` as additional data) against the
/// computed one.
pub fn verify_mac(
    file: &str,
    stored: &str,
    lastmodified: &str,
    key: &DataKey,
    computed: &str,
) -> Result<(), SopsError> {
    let opened =
        cipher::decrypt_value(stored, key, lastmodified).map_err(|_| SopsError::MacMismatch {
            file: file.to_string(),
        })?;
    match opened {
        Scalar::Str(m) if m == computed => Ok(()),
        _ => Err(SopsError::MacMismatch {
            file: file.to_string(),
        }),
    }
}

struct Walk<'a> {
    file: &'a str,
    key: &'a DataKey,
    rules: &'a Rules,
    hash: Sha512,
    path: Vec<String>,
}

impl Walk<'_> {
    fn node(&mut self, n: &mut Node) -> Result<(), SopsError> {
        match n {
            Node::Map(entries) => {
                for e in entries.iter_mut() {
                    match e {
                        Entry::Comment(c) => self.comment(c),
                        Entry::Pair(k, v) => {
                            self.path.push(k.clone());
                            let r = self.node(v);
                            self.path.pop();
                            r?;
                        }
                    }
                }
                Ok(())
            }
            Node::List(items) => {
                for item in items.iter_mut() {
                    self.node(item)?;
                }
                Ok(())
            }
            Node::Comment(c) => {
                self.comment(c);
                Ok(())
            }
            Node::Leaf(l) => self.leaf(l),
        }
    }

    fn path_string(&self) -> String {
        let mut s = self.path.join(":");
        s.push(':');
        s
    }

    /// Encrypted comments open with the enclosing path; one that does not open stays as written
    /// (sops does the same: files from older versions have plain comments).
    /// The parser may place a comment one level deeper than go-yaml did (a comment above a
    /// key at a lower indentation), so shorter paths are tried too.
    fn comment(&mut self, c: &mut Comment) {
        if !cipher::looks_encrypted(&c.text) {
            return;
        }
        for len in (0..=self.path.len()).rev() {
            let path = &self.path[..len];
            if !self.rules.encrypted(path) {
                continue;
            }
            let mut aad = path.join(":");
            aad.push(':');
            if let Ok(Scalar::Str(s)) = cipher::decrypt_value(&c.text, self.key, &aad) {
                c.text = s;
                c.decrypted = true;
                return;
            }
        }
    }

    fn leaf(&mut self, l: &mut Leaf) -> Result<(), SopsError> {
        // sops skips nulls entirely: neither decrypted nor hashed.
        if l.value == Scalar::Null {
            return Ok(());
        }
        let encrypted = self.rules.encrypted(&self.path);
        if encrypted {
            let plain =
                match &l.value {
                    Scalar::Str(s) if s.is_empty() => Scalar::Str(String::new()),
                    Scalar::Str(s) => cipher::decrypt_value(s, self.key, &self.path_string())
                        .map_err(|message| SopsError::Value {
                            file: self.file.to_string(),
                            path: self.path_string(),
                            message,
                        })?,
                    _ => {
                        return Err(SopsError::Value {
                            file: self.file.to_string(),
                            path: self.path_string(),
                            message: "expected an encrypted value (a string), found a plain one"
                                .into(),
                        });
                    }
                };
            l.value = plain;
            l.decrypted = true;
        }
        if !self.rules.mac_only_encrypted || encrypted {
            self.hash.update(cipher::mac_bytes(&l.value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rules_follow_sops_precedence() {
        let all = Rules::default();
        assert!(all.encrypted(&path(&["data", "x"])));
        let suffix = Rules {
            unencrypted_suffix: Some("_unencrypted".into()),
            ..Rules::default()
        };
        assert!(!suffix.encrypted(&path(&["a_unencrypted", "x"])));
        assert!(suffix.encrypted(&path(&["a", "x"])));
        let regex = Rules {
            encrypted_regex: Regex::new("^(data|stringData)$").ok(),
            ..Rules::default()
        };
        assert!(regex.encrypted(&path(&["data", "password"])));
        assert!(!regex.encrypted(&path(&["metadata", "name"])));
        assert!(!regex.encrypted(&[]));
    }
}
