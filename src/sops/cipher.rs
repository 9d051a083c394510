//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` values: AES-256-GCM with a 32-byte IV, the value's
//! path as additional data, and the plaintext's type restored from `type:`.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::tree::Scalar;

/// AES-256-GCM with sops' 32-byte nonces.
type SopsAes = AesGcm<Aes256, U32>;

/// The 32-byte data key of a file.
pub type DataKey = Zeroizing<[u8; 32]>;

/// Whether `s` has the shape of an encrypted value.
pub fn looks_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

/// Opens one encrypted value; `aad` is its path (`a:b:`), or `lastmodified` for the MAC. Errors
/// say what failed, never the content.
pub fn decrypt_value(value: &str, key: &DataKey, aad: &str) -> Result<Scalar, String> {
    let [data, iv, tag, datatype] = split_enc(value)
        .ok_or_else(|| "the value does not match sops' ENC[AES256_GCM,…] format".to_string())?;
    let part = |text: &str, name: &str| -> Result<Vec<u8>, String> {
        STANDARD
            .decode(text)
            .map_err(|e| format!("error base64-decoding {name}: {e}"))
    };
    let mut data = part(data, "data")?;
    let iv = part(iv, "iv")?;
    let tag = part(tag, "tag")?;
    if iv.len() != 32 {
        return Err(format!(
            "invalid IV length {} (sops uses 32 bytes)",
            iv.len()
        ));
    }
    if tag.len() != 16 {
        return Err(format!(
            "invalid tag length {} (expected 16 bytes)",
            tag.len()
        ));
    }
    let cipher = SopsAes::new_from_slice(key.as_slice())
        .map_err(|_| "invalid data key length".to_string())?;
    data.extend_from_slice(&tag);
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: &data,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                "authentication failed (tampered ciphertext, IV or tag, or wrong key)".to_string()
            })?,
    );
    let text = || {
        std::str::from_utf8(&plain)
            .map(str::to_string)
            .map_err(|_| format!("decrypted {datatype} value is not valid UTF-8"))
    };
    let bad = |what: &str| format!("decrypted value is not a valid {what}");
    Ok(match datatype {
        "str" => Scalar::Str(text()?),
        "int" => Scalar::Int(text()?.parse::<i64>().map_err(|_| bad("int"))?),
        "float" => Scalar::Float(text()?.parse::<f64>().map_err(|_| bad("float"))?),
        "bool" => Scalar::Bool(parse_go_bool(&text()?).ok_or_else(|| bad("bool"))?),
        "bytes" => Scalar::Bytes(plain.to_vec()),
        "time" => Scalar::Time(text()?),
        "comment" => Scalar::Str(text()?),
        other => return Err(format!("unknown datatype {other:?}")),
    })
}

/// The four fields of an `ENC[…]` value, as sops' pattern
/// `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]` captures them: groups greedy, end
/// unanchored, `.` not matching a line break. Written out because a capturing regex search cost
/// more than the AES-GCM it feeds; the test below checks it against that regex.
fn split_enc(value: &str) -> Option<[&str; 4]> {
    let body = value.strip_prefix("ENC[AES256_GCM,data:")?;
    // No part of a match crosses a line break.
    let line = body.split('\n').next().unwrap_or_default();
    // Greedy groups: the first group takes the longest prefix that lets the rest match, then
    // the second, and so on, so separators are tried from the right.
    let ends = |hay: &str, sep: &str| -> Vec<usize> {
        hay.match_indices(sep)
            .map(|(i, _)| i)
            .filter(|i| *i >= 1)
            .collect()
    };
    for i in ends(line, ",iv:").into_iter().rev() {
        let (data, rest) = (&line[..i], &line[i + ",iv:".len()..]);
        for j in ends(rest, ",tag:").into_iter().rev() {
            let (iv, rest) = (&rest[..j], &rest[j + ",tag:".len()..]);
            for k in ends(rest, ",type:").into_iter().rev() {
                let (tag, rest) = (&rest[..k], &rest[k + ",type:".len()..]);
                if let Some(l) = rest.rfind(']').filter(|l| *l >= 1) {
                    return Some([data, iv, tag, &rest[..l]]);
                }
            }
        }
    }
    None
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The bytes sops hashes for a plaintext value (its `ToBytes`).
pub fn mac_bytes(v: &Scalar) -> Vec<u8> {
    match v {
        Scalar::Str(s) | Scalar::Time(s) => s.as_bytes().to_vec(),
        Scalar::Int(i) => i.to_string().into_bytes(),
        Scalar::Float(f) => go_format_float_f(*f).into_bytes(),
        Scalar::Bool(true) => b"True".to_vec(),
        Scalar::Bool(false) => b"False".to_vec(),
        Scalar::Bytes(b) => b.clone(),
        Scalar::Null => Vec::new(),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, never an exponent.
pub fn go_format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display is the shortest round-trip form without an exponent, as Go's 'f', -1.
    format!("{f}")
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (what go-yaml prints for a float).
pub fn go_format_float_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // `{:e}` gives the shortest digits as d.ddddde±x.
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &DataKey, plain: &[u8], aad: &str, ty: &str) -> String {
        let cipher = SopsAes::new_from_slice(key.as_slice()).unwrap();
        let iv = [7u8; 32];
        let out = cipher
            .encrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        let (data, tag) = out.split_at(out.len() - 16);
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{ty}]",
            STANDARD.encode(data),
            STANDARD.encode(iv),
            STANDARD.encode(tag)
        )
    }

    #[test]
    fn round_trips_each_type_and_refuses_a_wrong_path() {
        let key = Zeroizing::new([3u8; 32]);
        let cases = [
            (b"hello".as_slice(), "str", Scalar::Str("hello".into())),
            (b"42", "int", Scalar::Int(42)),
            (b"1.5", "float", Scalar::Float(1.5)),
            (b"True", "bool", Scalar::Bool(true)),
            (b"\x00\x01", "bytes", Scalar::Bytes(vec![0, 1])),
        ];
        for (plain, ty, want) in cases {
            let enc = seal(&key, plain, "a:b:", ty);
            assert_eq!(decrypt_value(&enc, &key, "a:b:").unwrap(), want);
            assert!(decrypt_value(&enc, &key, "a:c:").is_err());
        }
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        let key = Zeroizing::new([3u8; 32]);
        for bad in [
            "",
            "ENC[",
            "ENC[AES256_GCM,data:!!,iv:AAAA,tag:AAAA,type:str]",
            "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]",
            "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:nope]",
        ] {
            assert!(decrypt_value(bad, &key, "x:").is_err(), "{bad}");
        }
    }

    #[test]
    fn value_fields_split_as_sops_pattern_captures_them() {
        let re =
            regex::Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]").unwrap();
        let key = Zeroizing::new([3u8; 32]);
        let sealed = seal(&key, b"x", "a:", "str");
        for v in [
            sealed.as_str(),
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]trailing]",
            "ENC[AES256_GCM,data:a,iv:x,iv:b,tag:c,tag:d,type:e,type:f]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:]]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:s]\nENC[AES256_GCM,data:z]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c\n,type:s]",
            "ENC[AES256_GCM,data:,iv:b,tag:c,type:s]",
            "ENC[AES256_GCM,data:a,iv:,tag:c,type:s]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:s",
            "ENC[AES256_GCM,data:,iv:,iv:b,tag:,tag:c,type:,type:s]]",
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:s]ü,type:t]",
            "xENC[AES256_GCM,data:a,iv:b,tag:c,type:s]",
            "",
        ] {
            let want = re
                .captures(v)
                .map(|c| [1, 2, 3, 4].map(|i| c.get(i).map(|m| m.as_str()).unwrap_or_default()));
            assert_eq!(split_enc(v), want, "{v:?}");
        }
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_format_float_f(1.0), "1");
        assert_eq!(go_format_float_f(0.000001), "0.000001");
        assert_eq!(go_format_float_g(1.5), "1.5");
        assert_eq!(go_format_float_g(1e6), "1e+06");
        assert_eq!(go_format_float_g(123456.0), "123456");
        assert_eq!(go_format_float_g(0.0001), "0.0001");
        assert_eq!(go_format_float_g(0.00001), "1e-05");
        assert_eq!(go_format_float_g(-2.5e10), "-2.5e+10");
    }
}
