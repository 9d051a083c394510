//! The `sops` metadata block: recipients, `lastmodified`, `mac` and the encryption rules.

use regex::Regex;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use super::error::SopsError;
use super::tree::{Entry, Node, Rules, Scalar};

/// One age recipient: the data key encrypted to it (an armored age file).
#[derive(Debug, Clone)]
pub struct AgeStanza {
    /// `age1…` public key.
    pub recipient: String,
    /// Armored age ciphertext of the data key.
    pub enc: String,
}

/// One OpenPGP recipient: the data key encrypted to it (an armored PGP message).
#[derive(Debug, Clone)]
pub struct PgpStanza {
    /// Key fingerprint.
    pub fingerprint: String,
    /// Armored PGP message with the data key.
    pub enc: String,
}

/// What the decryption needs from the metadata.
#[derive(Debug)]
pub struct Metadata {
    /// age recipients.
    pub age: Vec<AgeStanza>,
    /// OpenPGP recipients.
    pub pgp: Vec<PgpStanza>,
    /// Recipient kinds present that this implementation cannot use (cloud KMS, Vault).
    pub unsupported: Vec<String>,
    /// `lastmodified`, the MAC's additional data.
    pub lastmodified: String,
    /// The encrypted MAC.
    pub mac: String,
    /// Which values are encrypted and hashed.
    pub rules: Rules,
}

/// Kinds of key stanza that need a cloud service; reported as not supported here.
const CLOUD_KINDS: [&str; 6] = [
    "kms",
    "gcp_kms",
    "azure_kv",
    "hc_vault",
    "hckms",
    "huawei_kms",
];

/// Most distinct rule patterns kept compiled; a repository uses a handful.
const REGEX_CACHE_MAX: usize = 256;

/// Compiled `encrypted_regex`/`unencrypted_regex` patterns by source text. Every file of a
/// repository usually carries the same pattern, and compiling it costs more than decrypting the
/// file; a compiled pattern holds no secret, so sharing it across files and builds is safe.
static REGEX_CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `Regex::new(pattern)`, compiled once per pattern.
fn compiled(pattern: &str) -> Result<Regex, regex::Error> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
    let mut cache = REGEX_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = cache.get(pattern) {
        return Ok(r.clone());
    }
    let r = Regex::new(pattern)?;
    if cache.len() >= REGEX_CACHE_MAX {
        cache.clear();
    }
    cache.insert(pattern.to_string(), r.clone());
    Ok(r)
}

/// Reads the metadata node (`sops:` mapping) of `file`.
pub fn parse(file: &str, node: &Node) -> Result<Metadata, SopsError> {
    let bad = |message: String| SopsError::Format {
        file: file.to_string(),
        message,
    };
    if !matches!(node, Node::Map(_)) {
        return Err(bad("the sops metadata is not a mapping".into()));
    }
    let text = |key: &str| -> Option<String> {
        match node.get(key) {
            Some(Node::Leaf(l)) => match &l.value {
                Scalar::Str(s) | Scalar::Time(s) => Some(s.clone()),
                Scalar::Bool(b) => Some(b.to_string()),
                Scalar::Int(i) => Some(i.to_string()),
                _ => None,
            },
            _ => None,
        }
    };
    let nonempty = |key: &str| text(key).filter(|s| !s.is_empty());
    for key in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
        if nonempty(key).is_some() {
            return Err(SopsError::Unsupported {
                file: file.to_string(),
                message: format!(
                    "sops metadata uses {key}, which is not supported here; re-encrypt with encrypted_regex/unencrypted_regex or suffixes"
                ),
            });
        }
    }
    let regex = |key: &str| -> Result<Option<Regex>, SopsError> {
        nonempty(key)
            .map(|r| {
                compiled(&r).map_err(|e| bad(format!("{key} {r:?} is not a valid regex: {e}")))
            })
            .transpose()
    };
    let rules = Rules {
        unencrypted_suffix: nonempty("unencrypted_suffix"),
        encrypted_suffix: nonempty("encrypted_suffix"),
        unencrypted_regex: regex("unencrypted_regex")?,
        encrypted_regex: regex("encrypted_regex")?,
        mac_only_encrypted: text("mac_only_encrypted").is_some_and(|s| s == "true"),
    };
    let mut md = Metadata {
        age: Vec::new(),
        pgp: Vec::new(),
        unsupported: Vec::new(),
        lastmodified: nonempty("lastmodified")
            .ok_or_else(|| bad("the sops metadata has no lastmodified".into()))?,
        mac: nonempty("mac").ok_or_else(|| bad("the sops metadata has no mac".into()))?,
        rules,
    };
    collect_keys(node, &mut md);
    if let Some(Node::List(groups)) = node.get("key_groups") {
        let threshold = text("shamir_threshold")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        if groups.len() > 1 && threshold > 1 {
            return Err(SopsError::Unsupported {
                file: file.to_string(),
                message: format!(
                    "the data key is split over {} key groups (Shamir threshold {threshold}), which is not supported here",
                    groups.len()
                ),
            });
        }
        for g in groups {
            collect_keys(g, &mut md);
        }
    }
    Ok(md)
}

/// Adds the `age`, `pgp` and cloud stanzas of one key group (or the top level).
fn collect_keys(node: &Node, md: &mut Metadata) {
    let field = |n: &Node, key: &str| -> String {
        match n.get(key) {
            Some(Node::Leaf(l)) => match &l.value {
                Scalar::Str(s) => s.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        }
    };
    if let Some(Node::List(items)) = node.get("age") {
        for n in items.iter().filter(|n| matches!(n, Node::Map(_))) {
            md.age.push(AgeStanza {
                recipient: field(n, "recipient"),
                enc: field(n, "enc"),
            });
        }
    }
    if let Some(Node::List(items)) = node.get("pgp") {
        for n in items.iter().filter(|n| matches!(n, Node::Map(_))) {
            md.pgp.push(PgpStanza {
                fingerprint: field(n, "fp"),
                enc: field(n, "enc"),
            });
        }
    }
    for kind in CLOUD_KINDS {
        if let Some(Node::List(items)) = node.get(kind)
            && items.iter().any(|n| matches!(n, Node::Map(_)))
            && !md.unsupported.iter().any(|k| k == kind)
        {
            md.unsupported.push(kind.to_string());
        }
    }
}

/// Rebuilds the metadata tree from dotenv's flattened `sops_…` keys (`age__list_0__map_enc`).
pub fn unflatten(pairs: Vec<(String, String)>) -> Node {
    let mut root = Node::Map(Vec::new());
    for (key, value) in pairs {
        let tokens = tokens(&key);
        insert(&mut root, &tokens, value);
    }
    root
}

enum Token {
    Key(String),
    Index(usize),
}

fn tokens(key: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut rest = key;
    // The first segment is a key; each separator says what the next one is.
    let mut index = false;
    loop {
        let next = [
            rest.find("__map_").map(|i| (i, false, "__map_".len())),
            rest.find("__list_").map(|i| (i, true, "__list_".len())),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|t| t.0);
        let (seg, after) = match next {
            Some((i, is_index, len)) => (&rest[..i], Some((is_index, &rest[i + len..]))),
            None => (rest, None),
        };
        out.push(if index {
            Token::Index(seg.parse().unwrap_or(0))
        } else {
            Token::Key(seg.to_string())
        });
        match after {
            Some((is_index, r)) => {
                index = is_index;
                rest = r;
            }
            None => break,
        }
    }
    out
}

fn insert(node: &mut Node, tokens: &[Token], value: String) {
    let Some((first, rest)) = tokens.split_first() else {
        *node = Node::Leaf(super::tree::Leaf::new(Scalar::Str(value)));
        return;
    };
    match first {
        Token::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Vec::new());
            }
            let Node::Map(entries) = node else {
                return;
            };
            let pos = entries
                .iter()
                .position(|e| matches!(e, Entry::Pair(key, _) if key == k));
            let i = match pos {
                Some(i) => i,
                None => {
                    entries.push(Entry::Pair(k.clone(), Node::Map(Vec::new())));
                    entries.len() - 1
                }
            };
            if let Entry::Pair(_, child) = &mut entries[i] {
                insert(child, rest, value);
            }
        }
        Token::Index(i) => {
            if !matches!(node, Node::List(_)) {
                *node = Node::List(Vec::new());
            }
            let Node::List(items) = node else {
                return;
            };
            // Indexes come from the file; cap growth so a hostile index cannot allocate much.
            let i = (*i).min(1024);
            while items.len() <= i {
                items.push(Node::Map(Vec::new()));
            }
            insert(&mut items[i], rest, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflattens_dotenv_metadata() {
        let node = unflatten(vec![
            ("age__list_0__map_recipient".into(), "age1x".into()),
            ("age__list_0__map_enc".into(), "ARMOR".into()),
            ("lastmodified".into(), "2024-01-01T00:00:00Z".into()),
            ("mac".into(), "ENC[x]".into()),
            ("mac_only_encrypted".into(), "true".into()),
        ]);
        let md = parse("f.env", &node).unwrap();
        assert_eq!(md.age.len(), 1);
        assert_eq!(md.age[0].recipient, "age1x");
        assert_eq!(md.age[0].enc, "ARMOR");
        assert!(md.rules.mac_only_encrypted);
    }

    #[test]
    fn missing_mac_and_cloud_keys_are_reported() {
        let node = unflatten(vec![("lastmodified".into(), "t".into())]);
        assert!(matches!(parse("f", &node), Err(SopsError::Format { .. })));
        let node = unflatten(vec![
            ("kms__list_0__map_arn".into(), "arn:aws:kms:x".into()),
            ("lastmodified".into(), "t".into()),
            ("mac".into(), "m".into()),
        ]);
        assert_eq!(parse("f", &node).unwrap().unsupported, vec!["kms"]);
    }
}
