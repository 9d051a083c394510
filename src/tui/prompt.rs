//! The `:` command prompt and the `/` filter line: input text and command completion.

use crate::model::KINDS;

/// Which line is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// `:` commands.
    Command,
    /// `/` filter.
    Filter,
}

/// An open prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Which one.
    pub kind: PromptKind,
    /// What was typed so far.
    pub input: String,
}

/// Commands that are not kind names.
const COMMAND_WORDS: &[&str] = &[
    "all",
    "failing",
    "suspended",
    "events",
    "ctx",
    "ns",
    "sync",
    "help",
    "quit",
    "q",
];

/// Every word `:` accepts, for completion: the fixed commands, then every kind name and alias.
pub fn command_words() -> impl Iterator<Item = &'static str> {
    COMMAND_WORDS
        .iter()
        .copied()
        .chain(KINDS.iter().flat_map(|k| k.names()))
}

impl Prompt {
    /// An empty prompt.
    pub fn new(kind: PromptKind) -> Prompt {
        Prompt {
            kind,
            input: String::new(),
        }
    }

    /// The completion of the current input, if it is a command prefix (shortest match wins).
    pub fn suggestion(&self) -> Option<&'static str> {
        if self.kind != PromptKind::Command || self.input.is_empty() {
            return None;
        }
        let typed = self.input.to_ascii_lowercase();
        command_words()
            .filter(|w| w.starts_with(&typed) && w.len() > typed.len())
            .min_by_key(|w| (w.len(), *w))
    }

    /// Tab: accepts the suggestion.
    pub fn complete(&mut self) {
        if let Some(s) = self.suggestion() {
            self.input = s.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_commands_and_kind_names() {
        let mut p = Prompt::new(PromptKind::Command);
        p.input = "fai".into();
        assert_eq!(p.suggestion(), Some("failing"));
        p.input = "kustomizations".into();
        assert_eq!(p.suggestion(), None);
        p.input = "helmrel".into();
        p.complete();
        assert_eq!(p.input, "helmrelease");
        p.input = "zzz".into();
        p.complete();
        assert_eq!(p.input, "zzz");
        let f = Prompt {
            kind: PromptKind::Filter,
            input: "fai".into(),
        };
        assert_eq!(f.suggestion(), None);
    }
}
