//! JSON files (and binary files, a JSON envelope `{"data": …, "sops": …}`), printed as
//! `sops --decrypt` prints them: Go's `json.Marshal` values re-indented with a tab.

use zeroize::Zeroizing;

use super::error::SopsError;
use super::keys::KeyRing;
use super::tree::{Entry, Node, Scalar};
use super::{Decrypted, yaml};

/// Decrypts a JSON file; `binary` returns the envelope's `data` string as the file's bytes.
pub fn decrypt(
    file: &str,
    text: &str,
    keys: &KeyRing,
    binary: bool,
) -> Result<Decrypted, SopsError> {
    if !text.trim_start().starts_with('{') {
        return Err(SopsError::Format {
            file: file.to_string(),
            message: "sops JSON files are objects (starting with '{')".into(),
        });
    }
    let (docs, _) = yaml::decrypt_tree(file, text, keys)?;
    let Some(doc) = docs.first() else {
        return Err(SopsError::NotEncrypted {
            file: file.to_string(),
        });
    };
    if binary {
        return match doc.get("data") {
            Some(Node::Leaf(l)) => match &l.value {
                Scalar::Str(s) => Ok(Decrypted {
                    text: Zeroizing::new(s.as_bytes().to_vec()),
                }),
                Scalar::Bytes(b) => Ok(Decrypted {
                    text: Zeroizing::new(b.clone()),
                }),
                _ => Err(SopsError::Format {
                    file: file.to_string(),
                    message: "the 'data' value of a binary file is not a string".into(),
                }),
            },
            _ => Err(SopsError::Format {
                file: file.to_string(),
                message: "no 'data' value in the binary file's envelope".into(),
            }),
        };
    }
    let mut out = String::new();
    emit(doc, 0, &mut out);
    out.push('\n');
    Ok(Decrypted {
        text: Zeroizing::new(out.into_bytes()),
    })
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push('\t');
    }
}

/// Go's `json.Indent(…, "", "\t")` of sops' compact encoding, written directly.
fn emit(n: &Node, level: usize, out: &mut String) {
    match n {
        Node::Map(entries) => {
            let pairs: Vec<(&String, &Node)> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Pair(k, v) => Some((k, v)),
                    Entry::Comment(_) => None,
                })
                .collect();
            if pairs.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                go_string(k, out);
                out.push_str(": ");
                emit(v, level + 1, out);
            }
            indent(out, level);
            out.push('}');
        }
        Node::List(items) => {
            let items: Vec<&Node> = items
                .iter()
                .filter(|n| !matches!(n, Node::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                emit(v, level + 1, out);
            }
            indent(out, level);
            out.push(']');
        }
        Node::Leaf(l) => match &l.value {
            Scalar::Null => out.push_str("null"),
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Int(i) => out.push_str(&i.to_string()),
            Scalar::Float(f) => out.push_str(&go_json_float(*f)),
            Scalar::Str(s) | Scalar::Time(s) => go_string(s, out),
            Scalar::Bytes(b) => {
                use base64::Engine;
                go_string(&base64::engine::general_purpose::STANDARD.encode(b), out)
            }
        },
        Node::Comment(_) => {}
    }
}

/// Go's `json.Marshal` of a float64 ('f' format, or 'e' for very large or small magnitudes).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Go writes e-07 as e-07 and e+21 as e+21 (two-digit exponent at least).
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = e.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// Go's `json.Marshal` of a string: HTML-safe escapes, `\u2028`/`\u2029` escaped.
fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_floats_escape_like_go() {
        let mut s = String::new();
        go_string("a<b>&\"\\\n\u{1}", &mut s);
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\"");
        assert_eq!(go_json_float(1.5), "1.5");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-07");
    }
}
