//! Showing strings that come from a bundle (names, descriptions, paths, feature names, messages that
//! quote them) to a person, safely.
//!
//! A bundle is untrusted input, and a terminal or a CI log obeys control characters: `ESC ] 0 ;` sets the
//! window title, `ESC [ 2 J` clears the screen, a newline can forge a `PASSED` line, and Unicode bidi
//! overrides reorder what is displayed ("Trojan Source"). Every human-readable rendering of such strings
//! (`ferry inspect`, `ferry audit`, `ferry verify`'s human, GitHub, JUnit and Markdown outputs, error
//! messages) goes through [`escape`] (or [`Escaped`]). JSON outputs need nothing more: serde escapes
//! control characters there.
//!
//! Escaped, as visible text:
//! - C0 controls (U+0000–U+001F, newline and tab included), DEL (U+007F) and C1 controls
//!   (U+0080–U+009F): `\n`, `\r`, `\t`, `\x1b`, `\u{9b}`;
//! - bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), bidi marks (U+061C,
//!   U+200E, U+200F) and the Unicode line and paragraph separators (U+2028, U+2029): `\u{202e}`.
//!
//! Backslashes are left alone, so ordinary text (Windows paths) reads as it is.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` is escaped by [`escape`].
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}')
}

/// `s` with every control character and bidi override escaped as visible text (see the module
/// documentation); borrowed when there is nothing to escape.
///
/// ```
/// use ferry_spec::display::escape;
/// assert_eq!(escape("credit-risk"), "credit-risk");
/// assert_eq!(escape("a\u{1b}]0;pwned\u{7}b\nPASSED"), "a\\x1b]0;pwned\\x07b\\nPASSED");
/// assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
/// ```
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// [`escape`], keeping newlines: for multi-line text such as error messages, where a line break is the
/// message's own. Everything else is escaped as [`escape`] does.
pub fn escape_multiline(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| is_unsafe(c) && !(keep_newlines && c == '\n');
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Displays a string through [`escape`]: `format!("{}", Escaped(&name))`. Width and alignment apply to
/// the escaped text (`{:<20}`).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_control_and_bidi_character() {
        for c in (0u32..0x20).chain(0x7f..0xa0).chain(0x202a..0x202f).chain(0x2066..0x206a) {
            let c = char::from_u32(c).unwrap_or_default();
            let e = escape(&c.to_string()).into_owned();
            assert!(e.starts_with('\\'), "U+{:04X} -> {e:?}", c as u32);
            assert!(!e.chars().any(is_unsafe), "U+{:04X} -> {e:?}", c as u32);
        }
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("é日本🚀\\"), "é日本🚀\\");
        assert_eq!(escape_multiline("a\nb\u{1b}[2J"), "a\nb\\x1b[2J");
        assert_eq!(format!("[{:<6}]", Escaped("a\tb")), "[a\\tb  ]");
    }
}
