//! A live release of the example app, put on hosts the way `ferry <env>
//! deploy` does it: `<deploy_to>/releases/<id>` with a venv, shared `.env`
//! and database linked in, migrated, `current` switched with rename(2),
//! then the services restarted.
//!
//! Deploy is being built on `main`; until it is merged here, tests that
//! need a running app call [`deploy_example`]. After the merge its body
//! becomes `ferry <env> deploy` and the tests stay as they are.

use std::path::Path;
use std::thread;

use super::ferry::Ran;
use super::hosts::Host;

pub const RELEASE: &str = "20261122T000000Z";

/// Deploy `example/` to `hosts` under `deploy_to`, then run `ferry(["restart"])`.
pub fn deploy_example(hosts: &[&Host], deploy_to: &str, ferry: impl Fn(&[&str]) -> Ran) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("example");
    let script = format!(
        r#"set -e
r={deploy_to}/releases/{RELEASE}
mkdir -p "$r"
cp -a {example}/. "$r/"
python3 -m venv "$r/venv"
"$r/venv/bin/pip" install -q --no-index --find-links /var/cache/ferry-tests/wheels -r "$r/requirements.txt"
[ -e {deploy_to}/shared/.env ] || printf 'SECRET_KEY=by-hand\n' >{deploy_to}/shared/.env
ln -sfn {deploy_to}/shared/.env "$r/.env"
ln -sfn {deploy_to}/shared/db.sqlite3 "$r/db.sqlite3"
chown -R deploy:deploy "$r"
runuser -u deploy -- "$r/venv/bin/python" "$r/manage.py" migrate >/dev/null
ln -sfn releases/{RELEASE} {deploy_to}/current.tmp
mv -T {deploy_to}/current.tmp {deploy_to}/current
"#,
        example = example.display()
    );
    thread::scope(|s| {
        for host in hosts {
            let script = &script;
            s.spawn(move || host.exec_ok(script));
        }
    });
    ferry(&["restart"]).success();
}
