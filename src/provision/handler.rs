//! What a handler does on a host: the shell that runs it, with the helpers
//! of `prelude.sh`. A handler runs at most once per host and only when a
//! resource that notifies it changed, so a second provision with nothing to
//! change restarts nothing. The names and their order are config's
//! (`config::Handler`); this module only executes them.

use crate::config::Handler;

impl Handler {
    /// The shell that does it, with the helpers of `prelude.sh`.
    pub(crate) fn shell(&self) -> String {
        let quote = |name: &str| crate::shell::Word::lit(name).as_str().to_string();
        match self {
            Handler::Systemd => {
                "if ferry_systemd; then $ferry_as systemctl daemon-reload; fi".into()
            }
            Handler::Supervisor => "if ferry_is_running supervisor; then\n\
                 $ferry_as supervisorctl reread >/dev/null\n\
                 $ferry_as supervisorctl update\n\
                 else echo 'supervisor is not running: it reads its programs when it starts'; fi"
                .into(),
            Handler::Nginx => "$ferry_as nginx -t -q\n\
                 if ferry_is_running nginx; then ferry_quietly ferry_service_do reload nginx; fi"
                .into(),
            Handler::TryRestart(name) | Handler::Reload(name) => {
                let action = match self {
                    Handler::Reload(_) => "reload",
                    _ => "restart",
                };
                format!(
                    "if ferry_is_running {0}; then ferry_quietly ferry_service_do {action} {0}; fi",
                    quote(name)
                )
            }
            Handler::Restart(name) => {
                format!("ferry_quietly ferry_service_do restart {}", quote(name))
            }
        }
    }
}
