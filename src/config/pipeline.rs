//! `[pipeline]`: the way code travels, checked when ferry.toml loads —
//! test commands run on this machine before a deploy, functional tests run
//! after one, the stages `ferry ship` walks, the branch map, git tag
//! patterns and local hooks. Stages and branches must name environments;
//! tag patterns may only use the placeholders they document.

use std::collections::BTreeMap;

use toml::Spanned;

use super::raw::{RawConfig, RawPipeline};
use crate::diagnostic::{Diagnostic, SourceFile};

/// Where `LIVE` points for each environment, moved on every deploy.
pub(crate) const LIVE_TAG: &str = "LIVE-{env}";
/// One tag per deploy, kept.
pub(crate) const DEPLOYED_TAG: &str = "DEPLOYED-{env}-{date}/{time}";
/// What a tag pattern may hold besides literal text.
const PLACEHOLDERS: &[&str] = &["env", "date", "time"];

#[derive(Debug, Clone, Default)]
pub(crate) struct Pipeline {
    /// Local commands that must pass before any deploy touches a host.
    pub(crate) tests: Vec<String>,
    /// Local commands run against an environment after its deploy (an
    /// environment's own list replaces this one).
    pub(crate) functional_tests: Vec<String>,
    pub(crate) rollback_on_failure: bool,
    /// `ferry ship`: deploy the first, promote to each next one.
    pub(crate) stages: Vec<String>,
    /// Branch → environment, for `ferry ship --from-branch`.
    pub(crate) branches: BTreeMap<String, String>,
    /// Tag patterns, or `None` when tagging is off.
    pub(crate) tags: Option<TagPatterns>,
    /// The remote that receives the tags.
    pub(crate) push_tags: Option<String>,
    pub(crate) hooks: Hooks,
}

#[derive(Debug, Clone)]
pub(crate) struct TagPatterns {
    pub(crate) live: String,
    pub(crate) deployed: String,
}

/// Local commands around a deploy, with its facts in `FERRY_*` variables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) pre_deploy: Vec<String>,
    pub(crate) post_deploy: Vec<String>,
    pub(crate) on_failure: Vec<String>,
}

pub(crate) fn resolve(file: &SourceFile, raw: &RawConfig) -> Result<Option<Pipeline>, Diagnostic> {
    let Some(pipeline) = &raw.pipeline else {
        return Ok(None);
    };
    let known = |name: &Spanned<String>, what: &str| -> Result<String, Diagnostic> {
        if raw
            .environments
            .keys()
            .any(|key| key.get_ref() == name.get_ref())
        {
            return Ok(name.get_ref().clone());
        }
        let names = raw.environments.keys().map(|k| k.get_ref().as_str());
        Err(file
            .error(
                name.span(),
                format!("{what} `{}` is not an environment", name.get_ref()),
            )
            .label("unknown environment")
            .help(crate::suggest::hint(name.get_ref(), names)))
    };
    let stages = pipeline
        .stages
        .iter()
        .map(|stage| known(stage, "stage"))
        .collect::<Result<Vec<_>, _>>()?;
    let branches = pipeline
        .branches
        .iter()
        .map(|(branch, env)| Ok((branch.get_ref().clone(), known(env, "branch target")?)))
        .collect::<Result<_, Diagnostic>>()?;
    Ok(Some(Pipeline {
        tests: strings(&pipeline.tests),
        functional_tests: strings(&pipeline.functional_tests),
        rollback_on_failure: pipeline.rollback_on_failure.unwrap_or(false),
        stages,
        branches,
        tags: tags(file, pipeline)?,
        push_tags: pipeline.push_tags.as_ref().map(|r| r.get_ref().clone()),
        hooks: Hooks {
            pre_deploy: strings(&pipeline.pre_deploy),
            post_deploy: strings(&pipeline.post_deploy),
            on_failure: strings(&pipeline.on_failure),
        },
    }))
}

fn tags(file: &SourceFile, pipeline: &RawPipeline) -> Result<Option<TagPatterns>, Diagnostic> {
    if pipeline.tags == Some(false) {
        return Ok(None);
    }
    let pattern = |given: &Option<Spanned<String>>, default: &str| match given {
        Some(given) => check_pattern(file, given),
        None => Ok(default.to_string()),
    };
    Ok(Some(TagPatterns {
        live: pattern(&pipeline.live_tag, LIVE_TAG)?,
        deployed: pattern(&pipeline.deployed_tag, DEPLOYED_TAG)?,
    }))
}

fn check_pattern(file: &SourceFile, pattern: &Spanned<String>) -> Result<String, Diagnostic> {
    let text = pattern.get_ref();
    let mut rest = text.as_str();
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        if !PLACEHOLDERS.contains(&&after[..end]) {
            return Err(file
                .error(
                    pattern.span(),
                    format!("`{{{}}}` is not a tag placeholder", &after[..end]),
                )
                .label("in this tag pattern")
                .help(Some(
                    "use {env}, {date} (YYYY-MM-DD) and {time} (HHMM)".into(),
                )));
        }
        rest = &after[end + 1..];
    }
    if text.is_empty() || text.contains(char::is_whitespace) || text.contains("..") {
        return Err(file
            .error(pattern.span(), format!("`{text}` cannot name a git tag"))
            .label("in this tag pattern"));
    }
    Ok(text.clone())
}

fn strings(list: &[Spanned<String>]) -> Vec<String> {
    list.iter().map(|s| s.get_ref().clone()).collect()
}

/// A tag pattern filled in.
pub(crate) fn tag_name(pattern: &str, env: &str, date: &str, time: &str) -> String {
    pattern
        .replace("{env}", env)
        .replace("{date}", date)
        .replace("{time}", time)
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, parse};
    use crate::diagnostic::SourceFile;

    fn load(text: &str) -> Result<crate::config::Project, ConfigError> {
        parse(SourceFile::new(
            std::path::Path::new("ferry.toml"),
            text.into(),
        ))
    }

    const ENVS: &str =
        "[environments.staging]\nhosts = [\"a\"]\n[environments.production]\nhosts = [\"b\"]\n";

    #[test]
    fn stages_and_branches_must_name_environments() {
        let ok = load(&format!(
            "[pipeline]\ntests = [\"true\"]\nstages = [\"staging\", \"production\"]\nbranches = {{ main = \"production\" }}\n{ENVS}"
        ))
        .unwrap();
        let pipeline = ok.pipeline.unwrap();
        assert_eq!(pipeline.stages, ["staging", "production"]);
        assert_eq!(pipeline.branches["main"], "production");
        assert_eq!(pipeline.tags.unwrap().live, "LIVE-{env}");
        let error = load(&format!("[pipeline]\nstages = [\"stagin\"]\n{ENVS}")).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("stage `stagin` is not an environment"),
            "{text}"
        );
    }

    #[test]
    fn promote_and_ship_cannot_name_environments() {
        for name in ["promote", "ship"] {
            let error = load(&format!("[environments.{name}]\nhosts = [\"a\"]\n")).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("`{name}` is a ferry command, not an environment name")
            );
        }
    }

    #[test]
    fn tag_patterns_know_their_placeholders() {
        let error = load(&format!(
            "[pipeline]\nlive_tag = \"LIVE-{{branch}}\"\n{ENVS}"
        ))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`{branch}` is not a tag placeholder")
        );
        assert_eq!(
            super::tag_name("DEPLOYED-{env}-{date}/{time}", "prod", "2026-12-01", "2130"),
            "DEPLOYED-prod-2026-12-01/2130"
        );
    }
}
