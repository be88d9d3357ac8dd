//! The signed-in user's name: what the `user` cookie carries and Istio matches.

use std::fmt;

/// A user name: 1–64 letters, digits, `.`, `_` or `-`.
///
/// Narrow on purpose: the value goes into a cookie, a header and an Istio
/// regex match, where anything else would need escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

/// What a user name may contain, in words, for error pages.
pub const USER_NAME_RULE: &str =
    "1 to 64 characters, each a letter (a-z, A-Z), a digit, '.', '_' or '-'";

impl UserName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Option<Self> {
        let valid = (1..=Self::MAX_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid.then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::UserName;

    #[test]
    fn accepts_workshop_names() {
        for name in ["developer", "jane.doe", "a", "QA_team-2", &"x".repeat(64)] {
            assert!(UserName::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn rejects_anything_that_would_need_escaping() {
        for name in [
            "",
            "jane doe",
            "<script>",
            "a;user=developer",
            "é",
            &"x".repeat(65),
        ] {
            assert!(UserName::parse(name).is_none(), "{name}");
        }
    }
}
