//! Masking of URL passwords in anything flotilla prints, stores or sends (status conditions,
//! Events, log lines, the console), the way Go's `url.URL.Redacted` shows a URL:
//! `http://alice:xxxxx@host/repo.git` — the user is kept, the password replaced.

use std::borrow::Cow;

/// What a password is replaced with (Go's `url.Redacted`).
pub const MASK: &str = "xxxxx";

/// `text` with the password of every `scheme://user:password@host` URL in it replaced by
/// [`MASK`]; borrowed unchanged when there is none. Works on a bare URL and on messages that
/// quote URLs (git errors, condition messages).
pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        out.push_str(&rest[..authority_start]);
        let tail = &rest[authority_start..];
        // The authority ends where the path, query or fragment begins, or at white space (the end
        // of the URL inside a message).
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        // The last '@' separates userinfo from host (an unescaped '@' in a password included).
        match authority.rfind('@') {
            Some(user_end) => {
                let userinfo = &authority[..user_end];
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                        changed = true;
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// [`redact`] as an owned `String`.
pub fn redacted(text: &str) -> String {
    redact(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_users_kept_like_go() {
        assert_eq!(
            redact("http://alice:secret@127.0.0.1:8080/x.git"),
            "http://alice:xxxxx@127.0.0.1:8080/x.git"
        );
        assert_eq!(
            redact("https://alice:p%40ss@host"),
            "https://alice:xxxxx@host"
        );
        // An unescaped '@' in the password: everything up to the last '@' is userinfo.
        assert_eq!(redact("https://a:b@c@host/r"), "https://a:xxxxx@host/r");
        // No password: nothing to hide (Go keeps a lone user too).
        assert_eq!(
            redact("ssh://git@github.com/o/r.git"),
            "ssh://git@github.com/o/r.git"
        );
        assert_eq!(
            redact("https://host:443/r.git?a=b@c"),
            "https://host:443/r.git?a=b@c"
        );
        assert_eq!(redact("file:///tmp/r.git"), "file:///tmp/r.git");
        assert!(matches!(redact("no urls here"), Cow::Borrowed(_)));
        assert!(matches!(redact("https://h/x"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_url_in_a_message_is_masked() {
        let m = "unable to clone 'http://alice:secret@h:1/x.git' at branch 'main': \
                 connect to http://alice:secret@h:1/x.git/info/refs failed; mirror https://bob:pw@m";
        let r = redact(m);
        assert!(!r.contains("secret") && !r.contains("pw@"), "{r}");
        assert_eq!(
            r,
            "unable to clone 'http://alice:xxxxx@h:1/x.git' at branch 'main': \
             connect to http://alice:xxxxx@h:1/x.git/info/refs failed; mirror https://bob:xxxxx@m"
        );
        assert_eq!(redacted("ends at http://u:p@h"), "ends at http://u:xxxxx@h");
    }
}
