//! Handlers as ferry.toml names them in `notify`: what a changed resource
//! asks for once every resource is in place — supervisor to pick up its
//! programs, nginx to reload its sites, systemd to read its units. This
//! module owns the names and their order; the shell that runs a handler on a
//! host belongs to `provision`.

use std::fmt;

use super::check;

/// In the order they run: systemd must read units before they restart, and
/// supervisor or nginx before the services a user names themselves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Handler {
    /// `systemctl daemon-reload` (only where systemd runs).
    Systemd,
    /// `supervisorctl reread` + `update`: adds, changes (restarting those) or
    /// removes programs; leaves unchanged ones running.
    Supervisor,
    /// Restart a system service if it runs (an app's systemd unit).
    TryRestart(String),
    /// `nginx -t`, then reload nginx if it runs.
    Nginx,
    /// Reload a system service if it runs.
    Reload(String),
    Restart(String),
}

impl Handler {
    /// `supervisor`, `nginx`, `systemd`, `reload:<service>` or `restart:<service>`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let service =
            |name: &str| check::service(name).map_err(|problem| format!("`{text}`: {problem}"));
        match text.split_once(':') {
            None => match text {
                "supervisor" => Ok(Handler::Supervisor),
                "nginx" => Ok(Handler::Nginx),
                "systemd" => Ok(Handler::Systemd),
                _ => Err(format!("`{text}` is not something ferry can notify")),
            },
            Some(("reload", name)) => Ok(Handler::Reload(service(name)?)),
            Some(("restart", name)) => Ok(Handler::Restart(service(name)?)),
            Some(_) => Err(format!("`{text}` is not something ferry can notify")),
        }
    }

    pub(crate) const KNOWN: &'static [&'static str] = &[
        "supervisor",
        "nginx",
        "systemd",
        "reload:<service>",
        "restart:<service>",
    ];
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handler::Systemd => f.write_str("systemctl daemon-reload"),
            Handler::Supervisor => f.write_str("supervisorctl update"),
            Handler::Nginx => f.write_str("reload nginx"),
            Handler::TryRestart(name) => write!(f, "restart {name} if it runs"),
            Handler::Reload(name) => write!(f, "reload {name}"),
            Handler::Restart(name) => write!(f, "restart {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_users_write() {
        assert_eq!(Handler::parse("nginx"), Ok(Handler::Nginx));
        assert_eq!(
            Handler::parse("reload:php8.2-fpm"),
            Ok(Handler::Reload("php8.2-fpm".into()))
        );
        assert!(Handler::parse("ngnix").is_err());
        assert!(Handler::parse("reload:x; rm -rf /").is_err());
        assert!(Handler::parse("stop:nginx").is_err());
    }

    #[test]
    fn systemd_reads_units_before_anything_restarts() {
        let mut handlers = [
            Handler::Nginx,
            Handler::TryRestart("app-web".into()),
            Handler::Systemd,
        ];
        handlers.sort();
        assert_eq!(handlers[0], Handler::Systemd);
        assert_eq!(handlers[2], Handler::Nginx);
    }
}
