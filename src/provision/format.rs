//! What a value may hold in a config file whose syntax ferry knows: a
//! supervisor program (INI), a systemd unit, an nginx site. A value with a
//! line break could add a section or a directive (a supervisor `[program]`
//! that runs anything); other characters end a value or start a comment.
//! The check runs on the values a template uses, before anything on a host
//! changes, and names the key and the file — never the value, which may be
//! a secret. `%` is not refused: the shipped templates escape it as `%%`
//! wherever supervisor or systemd would expand it.

use minijinja::Value;
use minijinja::value::ValueKind;

/// A file syntax ferry checks values for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Supervisor,
    Systemd,
    Nginx,
}

impl Format {
    /// From the shipped template a file is rendered from (or a project's
    /// override of it), else from where the file goes.
    pub(crate) fn of(template: &str, path: &str) -> Option<Self> {
        let base = template.rsplit('/').next().unwrap_or(template);
        match base {
            "supervisor.conf" => return Some(Format::Supervisor),
            "systemd.service" => return Some(Format::Systemd),
            "nginx.conf" => return Some(Format::Nginx),
            _ => {}
        }
        if path.starts_with("/etc/supervisor/") || path.starts_with("/etc/supervisord") {
            Some(Format::Supervisor)
        } else if path.starts_with("/etc/systemd/")
            || path.starts_with("/lib/systemd/")
            || path.starts_with("/usr/lib/systemd/")
            || path.ends_with(".service")
        {
            Some(Format::Systemd)
        } else if path.starts_with("/etc/nginx/") {
            Some(Format::Nginx)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Supervisor => "a supervisor config",
            Format::Systemd => "a systemd unit",
            Format::Nginx => "an nginx config",
        }
    }

    /// What in `value` the format would read as syntax, if anything.
    fn problem(self, value: &str) -> Option<&'static str> {
        if value.contains(['\n', '\r']) {
            return Some("a line break");
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Some("a control character");
        }
        match self {
            // supervisor strips `;` and `#` after whitespace as comments.
            Format::Supervisor => value
                .as_bytes()
                .windows(2)
                .any(|w| matches!(w[0], b' ' | b'\t') && matches!(w[1], b';' | b'#'))
                .then_some("a comment (`;` or `#` after a space)"),
            // A trailing backslash joins the next line.
            Format::Systemd => value.ends_with('\\').then_some("a trailing backslash"),
            Format::Nginx => value
                .contains([';', '{', '}', '"', '\'', '#'])
                .then_some("`;`, `{`, `}`, a quote or `#`"),
        }
    }
}

/// A value that cannot go into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) key: String,
    pub(crate) message: String,
}

/// Check every string reachable from the names the template uses (`names`
/// as minijinja reports them: `server_name`, `service.environment`).
pub(crate) fn check(format: Format, names: &[String], values: &Value) -> Result<(), Refused> {
    for name in names {
        let mut value = values.clone();
        for part in name.split('.') {
            value = value.get_attr(part).unwrap_or(Value::UNDEFINED);
        }
        check_value(format, name, &value)?;
    }
    Ok(())
}

fn check_value(format: Format, key: &str, value: &Value) -> Result<(), Refused> {
    let refuse = |what: &str, problem: &str| Refused {
        key: what.to_string(),
        message: format!(
            "`{what}` holds {problem}, which {} reads as syntax",
            format.name()
        ),
    };
    match value.kind() {
        ValueKind::String => match format.problem(value.as_str().unwrap_or_default()) {
            Some(problem) => Err(refuse(key, problem)),
            None => Ok(()),
        },
        ValueKind::Map => {
            for item in value.try_iter().into_iter().flatten() {
                let name = item.to_string();
                if let Some(problem) = format.problem(&name) {
                    return Err(refuse(&format!("{key} key {name:?}"), problem));
                }
                let inner = value.get_item(&item).unwrap_or(Value::UNDEFINED);
                check_value(format, &format!("{key}.{name}"), &inner)?;
            }
            Ok(())
        }
        ValueKind::Seq => {
            for (index, item) in value.try_iter().into_iter().flatten().enumerate() {
                check_value(format, &format!("{key}[{index}]"), &item)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::context;

    #[test]
    fn the_format_comes_from_the_template_or_the_path() {
        assert_eq!(
            Format::of("supervisor.conf", "/x"),
            Some(Format::Supervisor)
        );
        assert_eq!(
            Format::of("ferry/templates/nginx.conf", "/x"),
            Some(Format::Nginx)
        );
        assert_eq!(
            Format::of("own.j2", "/etc/supervisor/conf.d/a.conf"),
            Some(Format::Supervisor)
        );
        assert_eq!(
            Format::of("own.j2", "/etc/systemd/system/a.service"),
            Some(Format::Systemd)
        );
        assert_eq!(
            Format::of("own.j2", "/etc/nginx/sites-enabled/a"),
            Some(Format::Nginx)
        );
        assert_eq!(Format::of("env.j2", "/srv/app/shared/.env"), None);
    }

    #[test]
    fn values_with_syntax_are_refused_by_key() {
        let values = context([
            ("server_name", Value::from("example.com; return 301")),
            ("greeting", Value::from("hi\n[program:evil]\ncommand=sh")),
            (
                "service",
                context([(
                    "environment",
                    context([("A", Value::from("ok")), ("B", Value::from("x ; y"))]),
                )]),
            ),
        ]);
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let refused = check(Format::Supervisor, &names(&["greeting"]), &values).unwrap_err();
        assert_eq!(refused.key, "greeting");
        assert_eq!(
            refused.message,
            "`greeting` holds a line break, which a supervisor config reads as syntax"
        );
        let refused = check(
            Format::Supervisor,
            &names(&["service.environment"]),
            &values,
        );
        assert_eq!(refused.unwrap_err().key, "service.environment.B");
        let refused = check(Format::Nginx, &names(&["server_name"]), &values);
        assert_eq!(refused.unwrap_err().key, "server_name");
        assert!(check(Format::Supervisor, &names(&["server_name"]), &values).is_ok());
        assert!(check(Format::Systemd, &names(&["server_name"]), &values).is_ok());
        let trailing = context([("dir", Value::from("/srv\\"))]);
        assert!(check(Format::Systemd, &names(&["dir"]), &trailing).is_err());
    }
}
