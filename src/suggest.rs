//! "Did you mean" for names a user typed: config keys, tasks, environments,
//! arguments. One rule everywhere, so suggestions feel the same.

/// The closest candidate to `typed`, if one is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(typed, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= allowed_distance(typed, candidate))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A hint line for `closest`, ready for an error's `help`.
pub(crate) fn hint<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(typed, candidates).map(|name| format!("did you mean `{name}`?"))
}

// Short names tolerate one edit, longer ones about a third of their length:
// "env" vs "dev" must not match, "deplo_to" vs "deploy_to" must.
fn allowed_distance(typed: &str, candidate: &str) -> usize {
    let len = typed.chars().count().max(candidate.chars().count());
    (len / 3).clamp(1, 3)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_typos() {
        let keys = ["deploy_to", "branch", "keep_releases"];
        assert_eq!(closest("deplo_to", keys), Some("deploy_to"));
        assert_eq!(closest("brnach", keys), Some("branch"));
        assert_eq!(closest("keep_release", keys), Some("keep_releases"));
    }

    #[test]
    fn ignores_unrelated_names() {
        assert_eq!(closest("colour", ["deploy_to", "branch"]), None);
        assert_eq!(closest("prod", ["staging"]), None);
    }
}
