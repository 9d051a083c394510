//! dotenv files: `KEY=value` lines (`\n` escaped), `#` comments, and the metadata flattened into
//! `sops_…` keys.

use zeroize::Zeroizing;

use super::error::SopsError;
use super::keys::KeyRing;
use super::tree::{self, Comment, Entry, Leaf, Node, Scalar};
use super::{Decrypted, metadata};

/// Prefix of the flattened metadata keys.
const SOPS_PREFIX: &str = "sops_";

/// Decrypts a dotenv file to the text `sops --decrypt` prints.
pub fn decrypt(file: &str, text: &str, keys: &KeyRing) -> Result<Decrypted, SopsError> {
    let mut entries = Vec::new();
    let mut meta = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            entries.push(Entry::Comment(Comment {
                text: c.to_string(),
                span: None,
                decrypted: false,
            }));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(SopsError::Format {
                file: file.to_string(),
                message: format!("line {}: invalid dotenv line (no '=')", i + 1),
            });
        };
        let v = v.replace("\\n", "\n");
        if let Some(mk) = k.strip_prefix(SOPS_PREFIX) {
            meta.push((mk.to_string(), v));
        } else {
            entries.push(Entry::Pair(
                k.to_string(),
                Node::Leaf(Leaf::new(Scalar::Str(v))),
            ));
        }
    }
    if meta.is_empty() {
        return Err(SopsError::NotEncrypted {
            file: file.to_string(),
        });
    }
    let md = metadata::parse(file, &metadata::unflatten(meta))?;
    let key = keys.data_key(file, &md)?;
    let mut branches = [Node::Map(entries)];
    let mac = tree::decrypt_branches(file, &mut branches, &key, &md.rules)?;
    tree::verify_mac(file, &md.mac, &md.lastmodified, &key, &mac)?;
    let [Node::Map(entries)] = &branches else {
        return Err(SopsError::Format {
            file: file.to_string(),
            message: "internal error: dotenv tree".into(),
        });
    };
    let mut out = Zeroizing::new(String::new());
    for e in entries {
        match e {
            Entry::Comment(c) => {
                out.push('#');
                out.push_str(&c.text);
            }
            Entry::Pair(k, Node::Leaf(l)) => {
                out.push_str(k);
                out.push('=');
                match &l.value {
                    Scalar::Str(s) => out.push_str(&s.replace('\n', "\\n")),
                    other => out.push_str(&super::yaml::render_scalar(other, 0, true)),
                }
            }
            Entry::Pair(..) => {}
        }
        out.push('\n');
    }
    Ok(Decrypted {
        text: Zeroizing::new(out.as_bytes().to_vec()),
    })
}
