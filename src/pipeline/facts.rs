//! A deploy's facts, as the local commands around it see them: `FERRY_*`
//! variables in their environment (never in argv, never a secret).

use crate::release::who;

#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// `deploy`, `hotfix` or `promote`.
    pub(crate) event: String,
    pub(crate) app: String,
    pub(crate) env: String,
    /// Host names, for a test that wants to reach each one.
    pub(crate) hosts: Vec<String>,
    pub(crate) url: Option<String>,
    pub(crate) release: Option<String>,
    pub(crate) revision: Option<String>,
    /// A promotion's source: `<env> <release>`.
    pub(crate) from: Option<String>,
    /// `ok` or `failed`, for `post_deploy` and `on_failure`.
    pub(crate) result: Option<String>,
    /// What failed, for `on_failure`.
    pub(crate) error: Option<String>,
}

impl Facts {
    pub(crate) fn vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("FERRY_EVENT", Some(self.event.clone())),
            ("FERRY_APP", Some(self.app.clone())),
            ("FERRY_ENV", Some(self.env.clone())),
            ("FERRY_HOSTS", Some(self.hosts.join(" "))),
            ("FERRY_WHO", Some(who())),
            ("FERRY_URL", self.url.clone()),
            ("FERRY_RELEASE", self.release.clone()),
            ("FERRY_REVISION", self.revision.clone()),
            ("FERRY_FROM", self.from.clone()),
            ("FERRY_RESULT", self.result.clone()),
            ("FERRY_ERROR", self.error.clone()),
        ];
        vars.retain(|(_, v)| v.is_some());
        vars.into_iter()
            .map(|(k, v)| (k.to_string(), v.unwrap_or_default()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_facts_become_variables() {
        let facts = Facts {
            event: "deploy".into(),
            env: "staging".into(),
            hosts: vec!["a".into(), "b".into()],
            release: Some("20261201T000000Z".into()),
            ..Facts::default()
        };
        let vars = facts.vars();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("FERRY_HOSTS"), Some("a b"));
        assert_eq!(get("FERRY_RELEASE"), Some("20261201T000000Z"));
        assert_eq!(get("FERRY_URL"), None);
    }
}
