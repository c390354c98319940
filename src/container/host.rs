//! The host side of a container release, as calls of `helpers.sh`: which layers the
//! engine holds, loading and checking the image, the one-off migration container, and
//! the app's two containers as slots of the switch (`switch/`): each started from its
//! slot's release, probed on its own port, nginx told when the project says so.

use crate::config::ContainerDef;
use crate::inventory::Host;
use crate::shell::{Command, Script, Word};
use crate::switch::{Probe, Runner, SLOTS, Slot, Upstream};

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

/// The slots' key: `<deploy_to>/slots/container-a`, `-b` link to the releases
/// the two containers run, `<deploy_to>/slots/container.conf` is nginx's upstream.
pub(crate) const SLOTS_KEY: &str = "container";

/// The app's containers on `host` as the switch moves them: `<name>-a` on `port`,
/// `<name>-b` on `port + 1`, each probed on its own port; nginx's upstream
/// `<app>_container` names the live one when `switch = "upstream"`.
pub(crate) fn upstream(
    def: &ContainerDef,
    app: &str,
    host: &Host,
    deploy_to: &str,
    env_file: Option<&str>,
) -> Upstream {
    let name = self::name(app, host);
    let ports = [def.port, def.port + 1];
    let options = run_options(def, env_file);
    let starts = [0, 1].map(|i| {
        let slot = SLOTS[i];
        let link = Word::var("D").join(Word::lit(&format!("/slots/{SLOTS_KEY}-{slot}")));
        let mut words = vec![link, Word::lit(&name), Word::lit(slot), Word::num(ports[i])];
        words.extend(options.iter().cloned());
        Command::words("ferry_ctr_start", words)
    });
    let slots = [0, 1].map(|i| Slot {
        address: format!("127.0.0.1:{}", ports[i]),
        probe: Probe::Container {
            name: format!("{name}-{}", SLOTS[i]),
            url: format!("http://127.0.0.1:{}{}", ports[i], def.health),
        },
    });
    let upstream_name: String = format!("{app}_{SLOTS_KEY}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Upstream {
        service: SLOTS_KEY.into(),
        name: upstream_name,
        deploy_to: deploy_to.into(),
        runner: Runner::Container { name, starts },
        as_root: false,
        slots,
        drain: def.drain,
        deadline: def.health_deadline.as_secs(),
        interval: 1,
        nginx: def.nginx,
    }
}

/// After a switch: containers of the app from before slots, and images of releases no
/// longer on the host, go.
pub(crate) fn prune(def: &ContainerDef, name: &str) -> Command {
    Command::words("ferry_ctr_prune", [Word::lit(name), Word::lit(&def.image)])
}

/// The switch (`force`: even when the live slot runs the live release, a restart that
/// drops no request) in a script of its own: the slot helpers, then these.
pub(crate) fn switch(script: &mut Script, upstream: &Upstream, force: bool) {
    script
        .library(&crate::switch::HELPERS)
        .library(&super::HELPERS);
    upstream.switch(script, force);
}

/// `status` of the live container, in a script of its own.
pub(crate) fn status(script: &mut Script, upstream: &Upstream) {
    script
        .library(&crate::switch::HELPERS)
        .library(&super::HELPERS);
    upstream.control(script, "status");
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

/// `<app>-<role>`: the host's containers of the app are named for it and their slot.
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

/// `command` in the live container of `name` (`docker exec`), the live slot read from
/// the upstream file under `deploy_to`.
pub(crate) fn exec(deploy_to: &str, name: &str, command: &[String]) -> Command {
    let upstream = crate::switch::upstream_file(deploy_to, SLOTS_KEY);
    let mut words = vec![Word::lit(&upstream), Word::lit(name)];
    words.extend(command.iter().map(|w| Word::lit(w)));
    Command::words("ferry_ctr_exec", words)
}

/// `docker logs -f` arguments' source: the live container of `name` in `ferry_name`.
pub(crate) fn live(script: &mut Script, deploy_to: &str, name: &str) {
    let upstream = crate::switch::upstream_file(deploy_to, SLOTS_KEY);
    script.library(&super::HELPERS);
    script.call("ferry_ctr_live", [Word::lit(&upstream), Word::lit(name)]);
}
