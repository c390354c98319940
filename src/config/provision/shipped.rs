//! The templates ferry ships for the usual server setup: a supervisor
//! program and a systemd unit for an app service (gunicorn, a celery
//! worker), and an nginx site proxying to the app with static files served
//! from `current/`. A project overrides one by putting a file of the same
//! name in `ferry/templates/`; the defaults below still apply to it.

use std::path::Path;

use crate::config::Handler;
use crate::config::Manager;

pub(crate) struct Shipped {
    pub(crate) name: &'static str,
    pub(crate) text: &'static str,
    /// Values the template uses that a file's `vars` may override.
    pub(crate) defaults: &'static [(&'static str, &'static str)],
    /// The manager of the service it renders; `None`: not a service's file.
    pub(crate) manager: Option<Manager>,
}

/// Where a project's own version of a shipped template lives.
pub(crate) const OVERRIDE_DIR: &str = "ferry/templates";

pub(crate) const SHIPPED: &[Shipped] = &[
    Shipped {
        name: "nginx.conf",
        text: include_str!("templates/nginx.conf"),
        defaults: &[
            ("listen", "80"),
            ("server_name", "_"),
            ("upstream", "127.0.0.1:8000"),
            // Set from a slotted `service`, or for a container behind nginx:
            // the include file and its upstream.
            ("upstream_include", ""),
            ("upstream_name", ""),
            ("static_url", "/static/"),
            ("static_dir", "static"),
            ("client_max_body_size", "10m"),
        ],
        manager: None,
    },
    Shipped {
        name: "supervisor.conf",
        text: include_str!("templates/supervisor.conf"),
        defaults: &[
            ("start_secs", "1"),
            ("stop_signal", "TERM"),
            ("stop_wait", "10"),
        ],
        manager: Some(Manager::Supervisor),
    },
    Shipped {
        name: "systemd.service",
        text: include_str!("templates/systemd.service"),
        defaults: &[("restart", "always"), ("stop_wait", "10")],
        manager: Some(Manager::Systemd),
    },
];

pub(crate) fn find(name: &str) -> Option<&'static Shipped> {
    SHIPPED.iter().find(|s| s.name == name)
}

pub(crate) fn names() -> impl Iterator<Item = &'static str> + Clone {
    SHIPPED.iter().map(|s| s.name)
}

impl Shipped {
    /// The project's override, relative to the project root, if it has one.
    pub(crate) fn override_path(&self, root: &Path) -> Option<std::path::PathBuf> {
        let path = root.join(OVERRIDE_DIR).join(self.name);
        path.is_file().then_some(path)
    }

    /// What a file rendered from this template notifies unless it says otherwise.
    pub(crate) fn notify(&self) -> Vec<Handler> {
        match self.name {
            "nginx.conf" => vec![Handler::Nginx],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_parse() {
        for shipped in SHIPPED {
            crate::template::check_syntax(shipped.text, crate::template::Kind::Text)
                .unwrap_or_else(|e| panic!("{}: {e}", shipped.name));
        }
    }
}
