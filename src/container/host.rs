//! The host side of a container release, as calls of `helpers.sh`: which layers the
//! engine holds, loading and checking the image, the one-off migration container, and
//! the switch from the old container to the new one.

use crate::config::ContainerDef;
use crate::inventory::Host;
use crate::shell::{Command, Script, Word};

/// Reports the layer stacks of every image the host's engine holds, or that it holds
/// `image` already.
pub(crate) fn probe_layers(script: &mut Script, image: &str) {
    script.call("ferry_ctr_layers", [Word::lit(image)]);
}

/// `docker load` of the archive on stdin (unless the engine has `image`), the loaded
/// image's id checked against `image`, then tagged `<repo>:<release>`.
pub(crate) fn load(script: &mut Script, image: &str, repo: &str, release: &str) {
    script.call(
        "ferry_ctr_load",
        [Word::lit(image), Word::lit(repo), Word::lit(release)],
    );
}

/// The migration, run in the new release's directory: a one-off container of its image.
pub(crate) fn migrate(def: &ContainerDef, env_file: Option<&str>) -> Option<Command> {
    if def.migrate.is_empty() {
        return None;
    }
    let options = run_options(def, env_file);
    let mut words = vec![Word::num(options.len() as u64)];
    words.extend(options);
    words.extend(def.migrate.iter().map(|arg| Word::lit(arg)));
    Some(Command::words("ferry_ctr_migrate", words))
}

/// Runs the live release's image as `<name>-<release>` beside the old container, probes
/// it directly, then stops the old one; a no-op once it runs (a put-back, a rollback to
/// the container still running).
pub(crate) fn up(def: &ContainerDef, name: &str, env_file: Option<&str>) -> Command {
    let mut words = vec![
        Word::lit(name),
        Word::lit(&def.image),
        Word::num(def.port),
        Word::lit(&def.health),
        Word::num(def.health_deadline.as_secs()),
    ];
    words.extend(run_options(def, env_file));
    Command::words("ferry_ctr_up", words)
}

/// `docker run` options of every container of the app: the `.env`, the mounts, the user.
fn run_options(def: &ContainerDef, env_file: Option<&str>) -> Vec<Word> {
    let shared = |path: &str| Word::var("D").join(Word::lit(&format!("/shared/{path}")));
    let mut words = Vec::new();
    if let Some(file) = env_file {
        words.extend([Word::lit("--env-file"), shared(file)]);
    }
    for mount in &def.mounts {
        let spec = format!("{}:{}", mount.shared, mount.target);
        words.extend([Word::lit("-v"), shared(&spec)]);
    }
    if let Some(user) = &def.user {
        words.extend([Word::lit("--user"), Word::lit(user)]);
    }
    words
}

/// `<app>-<role>`: the host's containers of the app are named for it and the release.
pub(crate) fn name(app: &str, host: &Host) -> String {
    let role = host.roles.iter().next().map_or("app", String::as_str);
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("{}-{}", clean(app), clean(role))
}

/// `command` in the live container of `name` (`docker exec`), the live release read
/// from `current`.
pub(crate) fn exec(current: &str, name: &str, command: &[String]) -> Command {
    let mut words = vec![Word::lit(current), Word::lit(name)];
    words.extend(command.iter().map(|w| Word::lit(w)));
    Command::words("ferry_ctr_exec", words)
}
