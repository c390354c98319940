//! Where a repository lives on the web, derived from its git remote's URL
//! alone (no network): GitHub, GitLab, Bitbucket, Gitea and Forgejo
//! (Codeberg), in their https and ssh forms, so `releases` and `history`
//! can link `old..new` to the forge's compare page. Credentials in a remote
//! URL are dropped; a host that names no known forge gives no link.

/// A repository's web home on a known forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forge {
    kind: Kind,
    /// `https://github.com/org/app`, no trailing slash or `.git`.
    web: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    GitHub,
    GitLab,
    Bitbucket,
    Gitea,
}

impl Forge {
    /// The forge of a remote URL: `git@github.com:org/app.git`,
    /// `ssh://git@gitlab.com:2222/group/sub/app.git`,
    /// `https://user:token@bitbucket.org/team/app`, …
    pub(crate) fn parse(remote: &str) -> Option<Forge> {
        let remote = remote.trim();
        let (host, path) = match remote.split_once("://") {
            Some((scheme, rest)) => {
                if !matches!(scheme, "https" | "http" | "ssh" | "git" | "git+ssh") {
                    return None;
                }
                let (authority, path) = rest.split_once('/')?;
                (authority, path)
            }
            // scp-like: [user@]host:path (not a Windows or local path).
            None => {
                let (authority, path) = remote.split_once(':')?;
                if authority.contains('/') || path.starts_with("//") {
                    return None;
                }
                (authority, path)
            }
        };
        let host = host.rsplit('@').next()?;
        let host = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
        .to_ascii_lowercase();
        let path = path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let kind = kind_of(&host)?;
        let parts: Vec<&str> = path.split('/').collect();
        let plain = |p: &&str| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        // GitLab nests groups; the others are owner/name.
        let fits = match kind {
            Kind::GitLab => parts.len() >= 2,
            _ => parts.len() == 2,
        };
        if !fits || !parts.iter().all(plain) || !plain(&host.as_str()) {
            return None;
        }
        Some(Forge {
            kind,
            web: format!("https://{host}/{}", parts.join("/")),
        })
    }

    /// The page showing what changed from `old` to `new` (commit ids).
    pub(crate) fn compare(&self, old: &str, new: &str) -> String {
        let web = &self.web;
        match self.kind {
            Kind::GitHub | Kind::Gitea => format!("{web}/compare/{old}...{new}"),
            Kind::GitLab => format!("{web}/-/compare/{old}...{new}"),
            // Bitbucket names the newer side first, then the older one.
            Kind::Bitbucket => format!("{web}/branches/compare/{new}%0D{old}"),
        }
    }
}

fn kind_of(host: &str) -> Option<Kind> {
    let first = host.split('.').next().unwrap_or("");
    match host {
        "github.com" => Some(Kind::GitHub),
        "gitlab.com" => Some(Kind::GitLab),
        "bitbucket.org" => Some(Kind::Bitbucket),
        "codeberg.org" | "gitea.com" => Some(Kind::Gitea),
        // Self-hosted ones named for what they run: gitlab.example.com, …
        _ => match first {
            "github" => Some(Kind::GitHub),
            "gitlab" => Some(Kind::GitLab),
            "gitea" | "forgejo" => Some(Kind::Gitea),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Forge;

    fn compare(remote: &str) -> Option<String> {
        Forge::parse(remote).map(|f| f.compare("aaa111", "bbb222"))
    }

    #[test]
    fn github_in_every_remote_form() {
        let want = Some("https://github.com/org/app/compare/aaa111...bbb222".to_string());
        for remote in [
            "git@github.com:org/app.git",
            "git@github.com:org/app",
            "ssh://git@github.com/org/app.git",
            "ssh://git@github.com:22/org/app.git",
            "https://github.com/org/app.git",
            "https://github.com/org/app/",
            "https://x-access-token:ghs_secret@github.com/org/app.git",
            "git://github.com/org/app.git",
            "  https://GitHub.com/org/app.git\n",
        ] {
            assert_eq!(compare(remote), want, "{remote}");
        }
    }

    #[test]
    fn gitlab_with_subgroups_and_a_port() {
        assert_eq!(
            compare("ssh://git@gitlab.com:2222/group/sub/app.git").as_deref(),
            Some("https://gitlab.com/group/sub/app/-/compare/aaa111...bbb222")
        );
        assert_eq!(
            compare("git@gitlab.example.com:ops/app.git").as_deref(),
            Some("https://gitlab.example.com/ops/app/-/compare/aaa111...bbb222")
        );
    }

    #[test]
    fn bitbucket_names_the_new_side_first() {
        assert_eq!(
            compare("git@bitbucket.org:team/app.git").as_deref(),
            Some("https://bitbucket.org/team/app/branches/compare/bbb222%0Daaa111")
        );
        assert_eq!(
            compare("https://ann@bitbucket.org/team/app.git").as_deref(),
            Some("https://bitbucket.org/team/app/branches/compare/bbb222%0Daaa111")
        );
    }

    #[test]
    fn gitea_and_codeberg() {
        assert_eq!(
            compare("https://codeberg.org/org/app.git").as_deref(),
            Some("https://codeberg.org/org/app/compare/aaa111...bbb222")
        );
        assert_eq!(
            compare("git@gitea.example.org:org/app.git").as_deref(),
            Some("https://gitea.example.org/org/app/compare/aaa111...bbb222")
        );
    }

    #[test]
    fn unknown_hosts_local_paths_and_odd_paths_give_no_link() {
        for remote in [
            "/srv/git/app.git",
            "../app.git",
            "file:///srv/git/app.git",
            "git@git.example.com:org/app.git",
            "https://example.com/org/app.git",
            "https://github.com/org",
            "https://github.com/org/app/extra",
            "git@github.com:org/a pp.git",
            "https://github.com/org/%2e%2e",
            "",
        ] {
            assert_eq!(compare(remote), None, "{remote}");
        }
    }
}
