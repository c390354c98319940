//! Hosts and roles: parsing `[user@]name[:port]`, the reserved `local`
//! target, and narrowing a run to some roles or hosts.

use std::collections::BTreeSet;
use std::fmt;

use crate::suggest;

/// Where a host's commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// This machine, through `sh` (the `local` target).
    Local,
    /// An OpenSSH destination: a host name, an address or an ssh_config alias.
    Ssh {
        user: Option<String>,
        name: String,
        port: Option<u16>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// As the user wrote it; what output lines and the recap show.
    pub(crate) label: String,
    pub(crate) address: Address,
    pub(crate) roles: BTreeSet<String>,
}

impl Host {
    pub(crate) fn parse(text: &str, roles: BTreeSet<String>) -> Result<Self, String> {
        Ok(Self {
            label: text.to_string(),
            address: parse_address(text)?,
            roles,
        })
    }

    pub(crate) fn has_any_role(&self, roles: &[String]) -> bool {
        roles.iter().any(|role| self.roles.contains(role))
    }

    /// The bare host name (no user, no port), as `--hosts` may name it.
    pub(crate) fn name(&self) -> &str {
        match &self.address {
            Address::Local => "local",
            Address::Ssh { name, .. } => name,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

pub(crate) const LOCAL: &str = "local";

/// `[user@]name[:port]`, `[user@][v6addr][:port]`, or `local`.
pub(crate) fn parse_address(text: &str) -> Result<Address, String> {
    if text == LOCAL {
        return Ok(Address::Local);
    }
    let (user, rest) = match text.split_once('@') {
        Some((user, rest)) => (Some(check_user(user)?.to_string()), rest),
        None => (None, text),
    };
    let (name, port) = split_port(rest)?;
    check_name(name)?;
    Ok(Address::Ssh {
        user,
        name: name.to_string(),
        port,
    })
}

fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let (name, port) = if let Some(v6) = text.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: `[` without `]`"))?;
        (addr, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (text, None),
        }
    };
    let port = port
        .map(|p| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("`{p}` is not a port (1-65535)")),
            Ok(port) => Ok(port),
        })
        .transpose()?;
    Ok((name, port))
}

// A leading `-` would reach ssh as an option (`-oProxyCommand=…`), and shell
// or control characters have no place in a host name: refuse both here.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the host name is empty".into());
    }
    if name.starts_with('-') {
        return Err(format!("`{name}`: a host name cannot start with `-`"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    match name.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!("`{name}`: {c:?} is not allowed in a host name")),
        None if name.len() > 253 => Err("the host name is longer than 253 characters".into()),
        None => Ok(()),
    }
}

pub(crate) fn check_user(user: &str) -> Result<&str, String> {
    let mut chars = user.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        Ok(user)
    } else {
        Err(format!("`{user}` is not a valid user name"))
    }
}

/// Narrow `hosts` to those with one of `roles` (when given) and named in
/// `names` (when given). Naming a role or host that is not there is an error,
/// not an empty run.
pub(crate) fn select(
    hosts: &[Host],
    roles: &[String],
    names: &[String],
) -> Result<Vec<Host>, String> {
    let known_roles: BTreeSet<&str> = hosts
        .iter()
        .flat_map(|h| h.roles.iter().map(String::as_str))
        .collect();
    if let Some(role) = roles.iter().find(|r| !known_roles.contains(r.as_str())) {
        return Err(unknown("role", role, known_roles.iter().copied()));
    }
    for name in names {
        if !hosts.iter().any(|h| h.label == *name || h.name() == name) {
            return Err(unknown(
                "host",
                name,
                hosts.iter().map(|h| h.label.as_str()),
            ));
        }
    }
    Ok(hosts
        .iter()
        .filter(|h| roles.is_empty() || h.has_any_role(roles))
        .filter(|h| names.is_empty() || names.iter().any(|n| h.label == *n || h.name() == n))
        .cloned()
        .collect())
}

fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a str> + Clone) -> String {
    let listed: Vec<&str> = known.clone().collect();
    let mut message = format!(
        "no {what} `{name}` in this environment (it has: {})",
        listed.join(", ")
    );
    if let Some(hint) = suggest::hint(name, known) {
        message.push_str("; ");
        message.push_str(&hint);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(user: Option<&str>, name: &str, port: Option<u16>) -> Address {
        Address::Ssh {
            user: user.map(Into::into),
            name: name.into(),
            port,
        }
    }

    #[test]
    fn parses_host_strings() {
        assert_eq!(parse_address("local"), Ok(Address::Local));
        assert_eq!(parse_address("web1"), Ok(ssh(None, "web1", None)));
        assert_eq!(
            parse_address("deploy@10.0.0.1:2222"),
            Ok(ssh(Some("deploy"), "10.0.0.1", Some(2222)))
        );
        assert_eq!(
            parse_address("root@[2001:db8::1]:22"),
            Ok(ssh(Some("root"), "2001:db8::1", Some(22)))
        );
    }

    #[test]
    fn refuses_bad_host_strings() {
        for bad in [
            "",
            "-oProxyCommand=x",
            "web1:0",
            "web1:99999",
            "a b",
            "h;rm",
            "@web",
            "us er@h",
            "[::1",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?} should be refused");
        }
    }

    fn host(label: &str, roles: &[&str]) -> Host {
        Host::parse(label, roles.iter().map(|r| r.to_string()).collect()).unwrap()
    }

    #[test]
    fn selects_by_role_and_name() {
        let hosts = [host("deploy@web1", &["web"]), host("deploy@db1", &["db"])];
        let by_role = select(&hosts, &["db".into()], &[]).unwrap();
        assert_eq!(by_role[0].label, "deploy@db1");
        let by_name = select(&hosts, &[], &["web1".into()]).unwrap();
        assert_eq!(by_name[0].label, "deploy@web1");
        let err = select(&hosts, &["wbe".into()], &[]).unwrap_err();
        assert!(err.contains("did you mean `web`?"), "{err}");
    }
}
