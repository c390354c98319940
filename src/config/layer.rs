//! Per-environment overrides of `[deploy]`, `[services]`, `[tasks]` and
//! `[hooks]`:
//! `[environments.<env>.deploy]`, `[environments.<env>.services.<key>]` and
//! `[environments.<env>.tasks.<name>]` merged over the top-level tables
//! before anything is resolved, so an environment's deploy, services and
//! tasks are checked and planned exactly like the base ones.
//!
//! The merge works on the parsed document with its spans (toml's `DeTable`),
//! so every error in a merged value still points at the line that wrote it.
//! The rule: tables merge key by key, as deep as they go; anything else (a
//! string, a number, an array) is replaced whole by the environment's value.

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The top-level tables an environment may override.
pub(crate) const LAYERED: &[&str] = &["deploy", "services", "tasks", "hooks"];

/// The document with `env`'s overrides merged over its top-level tables;
/// the environment's own section is left as it is.
pub(super) fn merged<'i>(mut doc: Spanned<DeTable<'i>>, env: &str) -> Spanned<DeTable<'i>> {
    let overrides: Vec<(Spanned<Cow<'i, str>>, Spanned<DeValue<'i>>)> = doc
        .get_ref()
        .get("environments")
        .and_then(|e| e.get_ref().as_table())
        .and_then(|envs| envs.get(env))
        .and_then(|e| e.get_ref().as_table())
        .map(|section| {
            section
                .iter()
                .filter(|(key, _)| LAYERED.contains(&key.get_ref().as_ref()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let top = doc.get_mut();
    for (key, value) in overrides {
        match top.get_mut(key.get_ref().as_ref()) {
            Some(base) => merge(base, value),
            None => {
                top.insert(key, value);
            }
        }
    }
    doc
}

/// `over` onto `base`: tables key by key, anything else replaced.
fn merge<'i>(base: &mut Spanned<DeValue<'i>>, over: Spanned<DeValue<'i>>) {
    let (span, over) = (over.span(), over.into_inner());
    match (base.get_mut(), over) {
        (DeValue::Table(into), DeValue::Table(from)) => {
            for (key, value) in from {
                match into.get_mut(key.get_ref().as_ref()) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (_, over) => *base = Spanned::new(span, over),
    }
}

/// One value an environment overrides: its dotted key (`deploy.build`),
/// where the environment wrote it and, when the base had one, where that was.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Overridden {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) at: Range<usize>,
    pub(crate) over: Option<Range<usize>>,
}

/// Every leaf of `env`'s overrides, in the file's order of keys.
pub(crate) fn overridden(doc: &Spanned<DeTable<'_>>, env: &str) -> Vec<Overridden> {
    let top = doc.get_ref();
    let Some(section) = top
        .get("environments")
        .and_then(|e| e.get_ref().as_table())
        .and_then(|envs| envs.get(env))
        .and_then(|e| e.get_ref().as_table())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in LAYERED {
        if let Some(value) = section.get(*name) {
            leaves(name, value, top.get(*name), &mut out);
        }
    }
    out
}

fn leaves(
    path: &str,
    value: &Spanned<DeValue<'_>>,
    base: Option<&Spanned<DeValue<'_>>>,
    out: &mut Vec<Overridden>,
) {
    match value.get_ref() {
        DeValue::Table(table) => {
            for (key, inner) in table {
                let below = base
                    .and_then(|b| b.get_ref().as_table())
                    .and_then(|b| b.get(key.get_ref().as_ref()));
                leaves(&format!("{path}.{}", key.get_ref()), inner, below, out);
            }
        }
        other => out.push(Overridden {
            key: path.to_string(),
            value: shown(other),
            at: value.span(),
            over: base.map(Spanned::span),
        }),
    }
}

/// A value as ferry.toml would spell it (strings bare).
fn shown(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(text) => text.to_string(),
        DeValue::Integer(n) => n.as_str().to_string(),
        DeValue::Float(n) => n.as_str().to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(text) => format!("{text:?}"),
                    other => shown(other),
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        DeValue::Table(_) => "{…}".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use toml::de::{DeTable, Deserializer};

    use super::{merged, overridden};
    use crate::config::raw::RawConfig;

    const FILE: &str = r#"
[deploy]
build = ["make", "make assets"]
exclude = ["tests"]
[deploy.health]
url = "http://localhost/health"
deadline = 30

[services.web]
command = "gunicorn app"
on_deploy = "restart"

[tasks.hi]
steps = ["echo hi"]

[environments.staging]
hosts = ["a"]
[environments.staging.deploy]
build = ["make debug"]
[environments.staging.deploy.health]
deadline = 5
[environments.staging.services.web]
command = "gunicorn app --reload"
[environments.staging.services.worker]
command = "celery"
[environments.staging.tasks.hi]
timeout = 9

[environments.production]
hosts = ["b"]
"#;

    fn raw(env: &str) -> RawConfig {
        let doc = merged(DeTable::parse(FILE).unwrap(), env);
        RawConfig::deserialize(Deserializer::from(doc)).unwrap()
    }

    #[test]
    fn tables_merge_deeply_and_arrays_replace() {
        let staging = raw("staging");
        let deploy = staging.deploy.as_ref().unwrap();
        let build: Vec<&str> = deploy.build.iter().map(|b| b.get_ref().as_str()).collect();
        assert_eq!(build, ["make debug"], "an array is replaced whole");
        assert_eq!(deploy.exclude.len(), 1, "a key not overridden stays");
        let health = deploy.health.as_ref().unwrap();
        assert_eq!(health.deadline, Some(5));
        assert!(health.url.is_some(), "a nested table merges key by key");
        let services: Vec<&str> = staging
            .services
            .keys()
            .map(|k| k.get_ref().as_str())
            .collect();
        assert_eq!(services, ["web", "worker"], "an override may add a service");
        let web = staging.services.values().next().unwrap();
        assert_eq!(
            web.command.as_ref().unwrap().get_ref(),
            "gunicorn app --reload"
        );
        assert!(web.on_deploy.is_some(), "the base's other keys stay");
        let hi = staging.tasks.values().next().unwrap();
        assert_eq!(hi.steps.get_ref().len(), 1);
        assert_eq!(hi.timeout.as_ref().map(|t| *t.get_ref()), Some(9));
    }

    #[test]
    fn an_environment_without_overrides_is_the_base() {
        let production = raw("production");
        let build = &production.deploy.as_ref().unwrap().build;
        assert_eq!(build.len(), 2);
        assert_eq!(production.services.len(), 1);
    }

    #[test]
    fn a_merged_value_keeps_the_span_of_the_line_that_wrote_it() {
        let staging = raw("staging");
        let build = &staging.deploy.as_ref().unwrap().build[0];
        assert_eq!(&FILE[build.span()], "\"make debug\"");
    }

    #[test]
    fn overridden_lists_each_leaf_with_where_it_was_and_what_it_replaced() {
        let doc = DeTable::parse(FILE).unwrap();
        let found = overridden(&doc, "staging");
        let keys: Vec<&str> = found.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "deploy.build",
                "deploy.health.deadline",
                "services.web.command",
                "services.worker.command",
                "tasks.hi.timeout",
            ]
        );
        assert_eq!(found[0].value, r#"["make debug"]"#);
        assert_eq!(
            &FILE[found[0].over.clone().unwrap()],
            r#"["make", "make assets"]"#
        );
        assert_eq!(found[3].over, None);
        assert!(overridden(&doc, "production").is_empty());
    }
}
