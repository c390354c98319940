//! The redactor: masks secrets in text on its way to the terminal, a log or
//! a JSON event. Host output arrives one line at a time (the transport reads
//! up to each newline), so a multi-line secret (a PEM key) never shows up
//! whole: each of its lines is a pattern of its own, beside the whole value.
//! Where text may quote host output cut at an arbitrary byte (a health
//! check's body, cut to its last bytes on the host), `redact_cut` also masks
//! the piece of a secret left at the cut.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use super::Secret;

pub(crate) const MASK: &str = "********";

// Masking a one- or two-character value would garble every line and protect
// nothing a guess would not find.
const SHORTEST_MASKED: usize = 3;

// A piece cut off a secret is masked from this length: shorter pieces give
// away less than a guess, and masking them would garble ordinary words
// (`-----` is a piece of every PEM key).
const SHORTEST_PIECE: usize = 6;

#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// Whole values and the lines of multi-line ones, longest first.
    patterns: Arc<[String]>,
}

impl Redactor {
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut patterns: Vec<String> = secrets
            .into_iter()
            .flat_map(|s| patterns(s.expose()))
            .collect();
        // Longest first, so a secret containing another is masked whole.
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        Self {
            patterns: patterns.into(),
        }
    }

    /// Every occurrence of a secret, or of a line of a multi-line secret,
    /// masked. Overlapping occurrences are masked as one.
    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        mask(text, self.matches(text))
    }

    /// `redact`, and a piece of a secret where text may have been cut: a
    /// word that starts with the end of a secret, or ends with its start.
    pub(crate) fn redact_cut<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut spans = self.matches(text);
        spans.extend(self.cut_pieces(text));
        mask(text, spans)
    }

    /// Where the first secret in `text` starts.
    pub(crate) fn first(&self, text: &str) -> Option<usize> {
        self.matches(text).into_iter().map(|span| span.start).min()
    }

    /// Where secrets occur in `text`, overlaps included.
    fn matches(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        for pattern in self.patterns.iter() {
            let mut from = 0;
            while let Some(at) = text[from..].find(pattern.as_str()) {
                let start = from + at;
                spans.push(start..start + pattern.len());
                from = start + first_char_len(&text[start..]);
            }
        }
        spans
    }

    /// Pieces of secrets where text may have been cut: the end of a
    /// pattern where a word starts (the cut may sit after a prefix such as
    /// `health check failed: `), the start of a pattern where the text ends.
    /// A word merely ending like a secret starts (`postgres`) stays.
    fn cut_pieces(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        let mut previous = None;
        for (index, c) in text.char_indices() {
            if !c.is_whitespace() && previous.is_none_or(char::is_whitespace) {
                let rest = &text[index..];
                if let Some(len) = self.longest(|p| ends_of(p).find(|end| rest.starts_with(end))) {
                    spans.push(index..index + len);
                }
            }
            previous = Some(c);
        }
        if let Some(len) = self.longest(|p| starts_of(p).find(|start| text.ends_with(start))) {
            spans.push(text.len() - len..text.len());
        }
        spans
    }

    fn longest<'p>(&'p self, piece: impl Fn(&'p str) -> Option<&'p str>) -> Option<usize> {
        self.patterns
            .iter()
            .filter_map(|p| piece(p))
            .map(str::len)
            .max()
    }
}

/// What to look for of one value: the value, and each line of a multi-line
/// value without the spaces around it (indentation and `\r` differ between
/// a file and what prints it).
fn patterns(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() >= SHORTEST_MASKED {
        out.push(value.to_string());
    }
    // The forms it takes in the scripts ferry sends, which `-vv` shows: a
    // shell word (`export NAME=…`), a .env value, and that as a word.
    let dotenv = crate::dotenv::quote(value);
    for form in [shell_word(value), shell_word(&dotenv), dotenv] {
        if form != value && form.len() >= SHORTEST_MASKED {
            out.push(form);
        }
    }
    if value.contains('\n') {
        out.extend(
            value
                .lines()
                .map(str::trim)
                .filter(|line| line.len() >= SHORTEST_MASKED)
                .map(str::to_string),
        );
    }
    out
}

/// `value` as `shell::Word::lit` quotes it (the same function, so the same text).
fn shell_word(value: &str) -> String {
    shlex::try_quote(value).map_or_else(|_| value.to_string(), |word| word.into_owned())
}

/// The proper suffixes of `pattern` long enough to mask, longest first.
fn ends_of(pattern: &str) -> impl Iterator<Item = &str> {
    pattern
        .char_indices()
        .skip(1)
        .map(|(at, _)| &pattern[at..])
        .take_while(|end| end.len() >= SHORTEST_PIECE)
}

/// The proper prefixes of `pattern` long enough to mask, longest first.
fn starts_of(pattern: &str) -> impl Iterator<Item = &str> {
    pattern
        .char_indices()
        .rev()
        .map(|(at, _)| &pattern[..at])
        .take_while(|start| start.len() >= SHORTEST_PIECE)
}

fn first_char_len(text: &str) -> usize {
    text.chars().next().map_or(1, char::len_utf8)
}

/// `text` with each run of overlapping or touching spans replaced by one mask.
fn mask(text: &str, mut spans: Vec<Range<usize>>) -> Cow<'_, str> {
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_by_key(|span| span.start);
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    let mut spans = spans.into_iter().peekable();
    while let Some(first) = spans.next() {
        let mut end = first.end;
        while let Some(next) = spans.next_if(|next| next.start <= end) {
            end = end.max(next.end);
        }
        out.push_str(&text[done..first.start.max(done)]);
        out.push_str(MASK);
        done = end;
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIICdgIBADANcanaryBgkqhkiG9w0BAQEFAASC\nAmAwggJcAgEAAoGBAMcanary2zLd9tTr3\n-----END PRIVATE KEY-----\n";

    fn redactor(values: &[&str]) -> Redactor {
        let secrets: Vec<Secret> = values
            .iter()
            .map(|v| Secret::new("S".into(), v.to_string()))
            .collect();
        Redactor::new(&secrets)
    }

    #[test]
    fn masks_every_occurrence_longest_first() {
        let redactor = redactor(&["hunter2", "hunter2-extra", "x"]);
        assert_eq!(
            redactor.redact("pw=hunter2-extra and hunter2; x stays"),
            "pw=******** and ********; x stays"
        );
    }

    #[test]
    fn masks_each_line_of_a_multi_line_secret() {
        let redactor = redactor(&[PEM]);
        for line in PEM.lines() {
            assert_eq!(redactor.redact(line), MASK, "{line}");
        }
        // Printed with other text around it, indented, or with `\r\n`.
        assert_eq!(
            redactor.redact("key:   MIICdgIBADANcanaryBgkqhkiG9w0BAQEFAASC\r"),
            "key:   ********\r"
        );
        // Whole, as a JSON string or a file would hold it.
        assert_eq!(redactor.redact(&format!("[{PEM}]")), "[********]");
        let flattened = PEM.replace('\n', " ");
        assert!(!redactor.redact(&flattened).contains("canary"));
    }

    #[test]
    fn a_short_line_of_a_secret_is_not_a_pattern() {
        let redactor = redactor(&["ab\nlong-enough"]);
        assert_eq!(redactor.redact("ab cd long-enough"), "ab cd ********");
    }

    #[test]
    fn overlapping_secrets_are_masked_as_one() {
        let redactor = redactor(&["abcdef", "defghi"]);
        assert_eq!(redactor.redact("x abcdefghi y"), "x ******** y");
        assert_eq!(redactor.redact("abcdef defghi"), "******** ********");
        // The same secret overlapping itself.
        let redactor = self::redactor(&["abab"]);
        assert_eq!(redactor.redact("ababab!"), "********!");
    }

    #[test]
    fn a_secret_split_across_chunks_is_masked_at_the_cut() {
        let redactor = redactor(&["s3cret-canary-value"]);
        let text = "token s3cret-canary-value done";
        for cut in 1..text.len() {
            let (head, tail) = text.split_at(cut);
            let shown = format!(
                "{}|{}",
                redactor.redact_cut(head),
                redactor.redact_cut(tail)
            );
            assert!(!shown.contains("canary"), "cut at {cut}: {shown}");
        }
    }

    #[test]
    fn a_cut_health_body_is_masked() {
        let redactor = redactor(&[PEM]);
        let body = PEM.replace('\n', " ");
        for cut in 0..body.len() {
            let message = format!("health check failed: {}", &body[cut..]);
            let shown = redactor.redact_cut(&message);
            assert!(!shown.contains("canary"), "cut at {cut}: {shown}");
            let message = format!("health check failed: {}", &body[..cut]);
            let shown = redactor.redact_cut(&message);
            assert!(!shown.contains("canary"), "cut at {cut}: {shown}");
        }
    }

    #[test]
    fn words_that_merely_share_a_few_letters_stay() {
        let redactor = redactor(&["postgres://app:pw@db/app", PEM]);
        assert_eq!(
            redactor.redact_cut("postgres is up; ---------- app done ----"),
            "postgres is up; ---------- app done ----"
        );
    }

    #[test]
    fn text_without_secrets_is_borrowed() {
        let redactor = redactor(&["hunter2"]);
        assert!(matches!(redactor.redact("nothing"), Cow::Borrowed(_)));
        assert!(matches!(Redactor::default().redact("x"), Cow::Borrowed(_)));
    }
}
