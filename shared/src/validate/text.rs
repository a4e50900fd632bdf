//! The one policy for text that other people see: a line (names, titles, labels, address
//! lines) or a text of many lines (a post's body, a note), and the patterns that say the same
//! in the OpenAPI document, built from the same character ranges.

use utoipa::openapi::schema::ObjectBuilder;

use super::{Invalid, text_schema};

/// Characters that render as nothing (zero-width spaces and joiners, word joiners, the BOM,
/// variation selectors, Hangul fillers, the soft hyphen): a name made only of these looks empty.
/// Inside a name they are fine — ZWJ builds emoji sequences, ZWNJ is needed in Persian.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
];

/// Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) reorder what follows them:
/// in a name shown to others they are a spoofing tool ("Trojan Source"), never needed.
const BIDI_CONTROLS: &[(char, char)] = &[('\u{202A}', '\u{202E}'), ('\u{2066}', '\u{2069}')];

/// Control characters (Unicode `Cc`, what `char::is_control` means).
const CONTROLS: &[(char, char)] = &[('\u{0000}', '\u{001F}'), ('\u{007F}', '\u{009F}')];

/// The control characters a text of many lines may not hold: every one but the line breaks and
/// the tab (`\t`, `\n`, `\r` are U+0009, U+000A, U+000D).
const TEXT_CONTROLS: &[(char, char)] = &[
    ('\u{0000}', '\u{0008}'),
    ('\u{000B}', '\u{000C}'),
    ('\u{000E}', '\u{001F}'),
    ('\u{007F}', '\u{009F}'),
];

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

fn is_invisible(c: char) -> bool {
    in_ranges(INVISIBLE, c)
}

fn is_bidi_control(c: char) -> bool {
    in_ranges(BIDI_CONTROLS, c)
}

/// `ranges` as the inside of a regular-expression class (`\u0000-\u001f…`).
fn class(ranges: &[(char, char)]) -> String {
    ranges
        .iter()
        .map(|(from, to)| {
            let (from, to) = (u32::from(*from), u32::from(*to));
            if from == to {
                format!("\\u{from:04x}")
            } else {
                format!("\\u{from:04x}-\\u{to:04x}")
            }
        })
        .collect()
}

/// The pattern (ECMA-262, as OpenAPI reads it) of [`visible_line`]: no control characters or
/// bidirectional controls anywhere, and one character that is neither blank nor invisible. Built
/// from the same ranges as the rule; the length is the schema's `maxLength`.
pub fn visible_line_pattern() -> String {
    let banned = format!("{}{}", class(CONTROLS), class(BIDI_CONTROLS));
    format!(
        "^[^{banned}]*[^\\s{banned}{}][^{banned}]*$",
        class(INVISIBLE)
    )
}

/// The pattern of [`visible_text`]: no control characters but line breaks and tabs, no
/// bidirectional controls.
pub fn visible_text_pattern() -> String {
    format!("^[^{}{}]*$", class(TEXT_CONTROLS), class(BIDI_CONTROLS))
}

/// The schema of a line others see ([`visible_line`]): 1–`max` characters with its pattern.
pub fn line_schema(max: usize, description: &str) -> ObjectBuilder {
    text_schema(1, max, description).pattern(Some(visible_line_pattern()))
}

/// The schema of a text of many lines ([`visible_text`]): up to `max` characters.
pub fn lines_schema(max: usize, description: &str) -> ObjectBuilder {
    text_schema(0, max, description).pattern(Some(visible_text_pattern()))
}

/// The one policy for a line of text that other people see (display names, post titles):
/// trimmed, `min..=max` characters, something visible in it, no control characters and no
/// bidirectional overrides.
pub fn visible_line(raw: &str, max_chars: usize) -> Result<&str, Invalid> {
    let trimmed = raw.trim();
    if !trimmed
        .chars()
        .any(|c| !c.is_whitespace() && !is_invisible(c))
    {
        return Err(Invalid("must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(Invalid(match max_chars {
            100 => "must be at most 100 characters",
            200 => "must be at most 200 characters",
            _ => "is too long",
        }));
    }
    if trimmed.chars().any(|c| in_ranges(CONTROLS, c)) {
        return Err(Invalid("must not contain control characters"));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(Invalid("must not contain bidirectional overrides"));
    }
    Ok(trimmed)
}

/// The same policy for text of many lines (a post's body): line breaks and tabs allowed, no
/// other control characters, no bidirectional overrides; it may be empty.
pub fn visible_text(raw: &str, max_chars: usize) -> Result<&str, Invalid> {
    if raw.chars().count() > max_chars {
        return Err(Invalid("is too long"));
    }
    if raw.chars().any(|c| in_ranges(TEXT_CONTROLS, c)) {
        return Err(Invalid("must not contain control characters"));
    }
    if raw.chars().any(is_bidi_control) {
        return Err(Invalid("must not contain bidirectional overrides"));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_patterns_spell_the_rules_ranges() {
        assert_eq!(
            visible_text_pattern(),
            "^[^\\u0000-\\u0008\\u000b-\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$"
        );
        let line = visible_line_pattern();
        assert!(
            line.starts_with(
                "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*[^\\s"
            )
        );
        assert!(line.contains("\\u00ad\\u034f\\u115f-\\u1160"), "{line}");
        // The rules agree with `char::is_control` on every character of the ranges' planes.
        let differ: Vec<char> = ('\u{0}'..='\u{FFFF}')
            .filter(|c| in_ranges(CONTROLS, *c) != c.is_control())
            .chain(('\u{0}'..='\u{FFFF}').filter(|c| {
                in_ranges(TEXT_CONTROLS, *c) != (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            }))
            .collect();
        assert!(differ.is_empty(), "{differ:?}");
    }
}
