//! One script per host for a whole provision run (one round trip): the
//! helpers of `prelude.sh`, then a block per resource that checks it and,
//! unless `--check`, fixes what differs, then the handlers the changed
//! resources notified. Each block runs in a subshell with `set -e` and
//! reports on marker lines; the first that fails stops the script.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::Handler;
use super::resource::{Resource, Step, User};
use crate::config::Attrs;
use crate::shell;

const PRELUDE: &str = include_str!("prelude.sh");

/// One literal shell word (see `shell::Word`).
fn quote(text: &str) -> String {
    shell::Word::lit(text).as_str().to_string()
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// `--check`: report what would change, change nothing.
    pub(crate) check: bool,
    /// `--diff`: send back the old content of files that change.
    pub(crate) diff: bool,
    /// Run handlers as root (`[provision] become`).
    pub(crate) handlers_as_root: bool,
}

/// The script, and the handlers it may run (their indices in its markers).
pub(crate) fn build(steps: &[Step], mode: Mode) -> (String, Vec<Handler>) {
    let mut handlers: Vec<Handler> = steps.iter().flat_map(|s| s.notify.clone()).collect();
    handlers.sort();
    handlers.dedup();
    let flag = |on: bool| if on { "1" } else { "" };
    let mut out = format!(
        "{}ferry_check={}\nferry_diff={}\n{PRELUDE}",
        shell::PRELUDE,
        flag(mode.check),
        flag(mode.diff)
    );
    let handlers_as_root = mode.handlers_as_root && !handlers.is_empty();
    if handlers_as_root || steps.iter().any(|s| s.become_root) {
        out.push_str(SUDO_PROBE);
    }
    out.push_str("ferry_missing=\n");
    for (index, step) in steps.iter().enumerate() {
        let who = if step.become_root { "root" } else { "user" };
        if let Resource::Package(name) = &step.resource {
            let _ = writeln!(out, "ferry_package {index} {} {who}", quote(name));
            continue;
        }
        // Packages come first: install them all in one apt run before the rest.
        if index > 0 && matches!(steps[index - 1].resource, Resource::Package(_)) {
            out.push_str("ferry_packages\n");
        }
        let label = step.resource.to_string();
        let _ = writeln!(
            out,
            "ferry_begin {index} {} {who}\n(\nset -e\n{}\n)\nferry_end $?",
            quote(&label),
            block(&step.resource)
        );
        let notified: Vec<String> = step
            .notify
            .iter()
            .map(|h| format!("ferry_h{}=1", position(&handlers, h)))
            .collect();
        if !notified.is_empty() {
            let _ = writeln!(
                out,
                "if [ \"$ferry_last\" != ok ]; then {}; fi",
                notified.join("; ")
            );
        }
    }
    if steps
        .last()
        .is_some_and(|s| matches!(s.resource, Resource::Package(_)))
    {
        out.push_str("ferry_packages\n");
    }
    out.push_str(if handlers_as_root {
        "ferry_as=ferry_root\n"
    } else {
        "ferry_as=\n"
    });
    for (index, handler) in handlers.iter().enumerate() {
        let _ = writeln!(
            out,
            "if [ -n \"$ferry_h{index}\" ] && ferry_handler {index} {}; then\n(\nset -e\n{}\n)\nferry_handler_end $?\nfi",
            quote(&handler.to_string()),
            handler.shell()
        );
    }
    (out, handlers)
}

/// Ask once, up front, whether root is at hand: a password prompt would
/// otherwise surface as a failure half-way through.
const SUDO_PROBE: &str = r#"if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>"$ferry_t/sudo"; then
    ferry_say sudo
    cat "$ferry_t/sudo" >&2
    exit 1
fi
"#;

fn position(handlers: &[Handler], handler: &Handler) -> usize {
    handlers
        .iter()
        .position(|h| h == handler)
        .expect("collected above")
}

fn block(resource: &Resource) -> String {
    match resource {
        Resource::Package(_) => unreachable!("packages are checked together"),
        Resource::Group(name) => format!(
            "if ! getent group {0} >/dev/null; then\n  ferry_change created\n  if ferry_apply; then $ferry_as groupadd {0}; fi\nfi",
            quote(name)
        ),
        Resource::User(user) => user_block(user),
        Resource::Member(group) => format!("ferry_member {}", quote(group)),
        Resource::Directory {
            path,
            attrs,
            layout,
        } => {
            let (owner, group) = if *layout {
                layout_owner_group(attrs)
            } else {
                owner_group(attrs)
            };
            format!(
                "ferry_directory {} {owner} {group} {}",
                quote(path),
                mode(attrs)
            )
        }
        Resource::File(file) => {
            let digest = Sha256::digest(file.content.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let (owner, group) = owner_group(&file.attrs);
            // printf is a shell builtin: the content (secrets included) is
            // never in any process's argv.
            format!(
                "printf '%s' {} >\"$ferry_t/new\"\nferry_file {} {hex} {owner} {group} {} {}",
                quote(&file.content),
                quote(&file.path),
                mode(&file.attrs),
                if file.seed { "seed" } else { "''" }
            )
        }
        Resource::Absent(path) => format!("ferry_absent {}", quote(path)),
        Resource::Link { path, to } => format!("ferry_link {} {}", quote(path), quote(to)),
        Resource::Service {
            name,
            enable,
            start,
        } => format!(
            "ferry_service {} {} {}",
            quote(name),
            u8::from(*enable),
            u8::from(*start)
        ),
    }
}

fn owner_group(attrs: &Attrs) -> (String, String) {
    let word = |v: &Option<String>| v.as_deref().map_or("''".into(), quote);
    (word(&attrs.owner), word(&attrs.group))
}

/// The layout belongs to whoever deploys: the SSH user of the run unless
/// it names an owner, and that owner's group unless it names one.
fn layout_owner_group(attrs: &Attrs) -> (String, String) {
    let (owner, group) = owner_group(attrs);
    match (&attrs.owner, &attrs.group) {
        (None, None) => ("\"$ferry_login\"".into(), "\"$ferry_login_group\"".into()),
        (None, Some(_)) => ("\"$ferry_login\"".into(), group),
        (Some(name), None) => (owner, format!("\"$(id -gn {})\"", quote(name))),
        (Some(_), Some(_)) => (owner, group),
    }
}

fn mode(attrs: &Attrs) -> String {
    attrs.mode.map_or("''".into(), |m| format!("{m:o}"))
}

fn user_block(user: &User) -> String {
    let name = quote(&user.name);
    let mut args = Vec::new();
    if user.system {
        args.push("--system".to_string());
    }
    if let Some(home) = &user.home {
        args.push(format!("--home-dir {} --create-home", quote(home)));
    } else if !user.system {
        args.push("--create-home".into());
    }
    if let Some(shell) = &user.shell {
        args.push(format!("--shell {}", quote(shell)));
    }
    if !user.groups.is_empty() {
        args.push(format!("--groups {}", quote(&user.groups.join(","))));
    }
    let mut out = format!(
        "if ! ferry_ent=$(getent passwd {name}); then\n  ferry_change created\n  if ferry_apply; then $ferry_as useradd {} --user-group {name}; fi\n  exit 0\nfi\n",
        args.join(" ")
    );
    for (field, value, option) in [(6, &user.home, "--home"), (7, &user.shell, "--shell")] {
        if let Some(value) = value {
            let value = quote(value);
            let _ = writeln!(
                out,
                "ferry_cur=$(printf '%s\\n' \"$ferry_ent\" | cut -d: -f{field})\nif [ \"$ferry_cur\" != {value} ]; then\n  ferry_change \"{} $ferry_cur -> \"{value}\n  if ferry_apply; then $ferry_as usermod {option} {value} {name}; fi\nfi",
                &option[2..]
            );
        }
    }
    if !user.groups.is_empty() {
        let groups: Vec<String> = user.groups.iter().map(|g| quote(g)).collect();
        let _ = writeln!(
            out,
            "ferry_have=\" $(id -nG {name}) \"\nfor ferry_g in {}; do\n  case \"$ferry_have\" in *\" $ferry_g \"*) ;; *)\n    ferry_change \"joined $ferry_g\"\n    if ferry_apply; then $ferry_as usermod -a -G \"$ferry_g\" {name}; fi ;;\n  esac\ndone",
            groups.join(" ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Marker;
    use crate::provision::resource::File;

    fn steps(root: &std::path::Path) -> Vec<Step> {
        let path = |p: &str| root.join(p).display().to_string();
        let step = |resource| Step {
            resource,
            become_root: false,
            notify: vec![],
        };
        vec![
            step(Resource::Directory {
                path: path("d"),
                attrs: Attrs {
                    mode: Some(0o750),
                    ..Attrs::default()
                },
                layout: false,
            }),
            step(Resource::File(File {
                path: path("d/f"),
                content: "it's $HOME `x`\n".into(),
                attrs: Attrs::default(),
                secret_prefixes: vec![],
                seed: false,
            })),
            step(Resource::Link {
                path: path("l"),
                to: path("d/f"),
            }),
            step(Resource::Absent(path("gone"))),
        ]
    }

    /// The resources' reports of a run: `changed 0`, `ok 1`, …
    fn run(steps: &[Step], check: bool) -> Vec<String> {
        let mode = Mode {
            check,
            diff: false,
            handlers_as_root: false,
        };
        let (markers, output) = crate::shell::tests::run_sh(&build(steps, mode).0);
        assert_eq!(markers.last(), Some(&Marker::Exit(0)), "{output}");
        markers
            .iter()
            .filter_map(|m| match m {
                Marker::Resource { index, status, .. } => Some(format!("{status} {index}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_script_is_shellcheck_clean() {
        let dir = tempfile::tempdir().unwrap();
        let mut steps = steps(dir.path());
        steps.insert(
            0,
            Step {
                resource: Resource::Package("nginx-light".into()),
                become_root: true,
                notify: vec![],
            },
        );
        steps.insert(
            1,
            Step {
                resource: Resource::Member("docker".into()),
                become_root: true,
                notify: vec![],
            },
        );
        steps[2].notify = vec![Handler::Nginx, Handler::Restart("app".into())];
        steps[2].become_root = true;
        for (check, diff) in [(false, false), (true, true)] {
            let mode = Mode {
                check,
                diff,
                handlers_as_root: true,
            };
            crate::shell::tests::shellcheck("provision", &build(&steps, mode).0);
        }
    }

    #[test]
    fn checks_first_changes_what_differs_and_then_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gone"), "x").unwrap();
        let steps = steps(dir.path());
        let would = ["would 0", "would 1", "would 2", "would 3"];
        assert_eq!(run(&steps, true), would);
        assert!(!dir.path().join("d").exists(), "--check changed something");
        assert_eq!(
            run(&steps, false),
            ["changed 0", "changed 1", "changed 2", "changed 3"]
        );
        assert_eq!(run(&steps, false), ["ok 0", "ok 1", "ok 2", "ok 3"]);
        let file = dir.path().join("d/f");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "it's $HOME `x`\n");
        std::fs::write(&file, "drift\n").unwrap();
        assert_eq!(run(&steps, false)[1], "changed 1");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "it's $HOME `x`\n");
    }
}
