//! `--diff`: a unified diff between what a file holds on the host and what
//! ferry rendered for it. The old content comes back as a report of its own
//! (`Marker::Old`), byte for byte. Secrets in
//! the new content are masked by the redactor like every line ferry prints;
//! an old secret ferry no longer knows is masked here, where it sits in the
//! line the new secret sits in (`SECRET_KEY=…`), or, when a secret starts a
//! line (a key file), on every old line that changed.

use similar::TextDiff;

use crate::secret::MASK;

/// The diff's lines, old content masked with `secret_prefixes` (see
/// `resource::File`). `None` for `old`: the file did not exist.
pub(crate) fn unified(
    path: &str,
    old: Option<&str>,
    new: &str,
    secret_prefixes: &[String],
) -> Vec<String> {
    let masked: String = old
        .unwrap_or("")
        .split_inclusive('\n')
        .map(|line| mask(line, new, secret_prefixes))
        .collect();
    let from = match old {
        Some(_) => format!("{path} (on the host)"),
        None => "/dev/null".to_string(),
    };
    let diff = TextDiff::from_lines(masked.as_str(), new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&from, &format!("{path} (ferry)"))
        .to_string();
    text.lines().map(str::to_string).collect()
}

fn mask(line: &str, new: &str, prefixes: &[String]) -> String {
    let unchanged = new.split_inclusive('\n').any(|n| n == line);
    match prefixes.iter().find(|p| line.starts_with(p.as_str())) {
        Some(prefix) if !unchanged => {
            let ending = if line.ends_with('\n') { "\n" } else { "" };
            format!("{prefix}{MASK}{ending}")
        }
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_a_rotated_secret_where_the_new_one_sits() {
        let old = "DEBUG=0\nSECRET_KEY=old-secret\n";
        let new = "DEBUG=1\nSECRET_KEY=new-secret\n";
        let lines = unified(".env", Some(old), new, &["SECRET_KEY=".into()]);
        let text = lines.join("\n");
        assert!(!text.contains("old-secret"), "{text}");
        assert!(text.contains("-SECRET_KEY=********"), "{text}");
        assert!(
            text.contains("-DEBUG=0") && text.contains("+DEBUG=1"),
            "{text}"
        );
        assert!(
            text.starts_with("--- .env (on the host)\n+++ .env (ferry)"),
            "{text}"
        );
    }

    #[test]
    fn masks_every_changed_line_of_a_rotated_key() {
        let old = "-----BEGIN KEY-----\nold-line-one\nold-line-two\n-----END KEY-----\n";
        let new = "-----BEGIN KEY-----\nnew-line-one\n-----END KEY-----\n";
        let text = unified("k", Some(old), new, &["".into()]).join("\n");
        assert!(!text.contains("old-line"), "{text}");
        assert!(
            text.contains(" -----BEGIN KEY-----\n-********\n-********\n+new-line-one"),
            "{text}"
        );
    }

    #[test]
    fn a_new_file_diffs_against_nothing() {
        let lines = unified("/etc/x", None, "a\n", &[]);
        assert_eq!(lines[0], "--- /dev/null");
        assert!(lines.contains(&"+a".to_string()));
    }
}
