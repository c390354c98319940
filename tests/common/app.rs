//! The example app as a test deploys it: a git repository in the Lab's
//! directory holding `example/`, a ferry.toml for the Lab's hosts, gunicorn
//! under supervisor on each host, and plain HTTP to ask the app what it runs.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::hosts::{Host, Lab};

pub const WHEELS: &str = "/var/cache/ferry-tests/wheels";
pub const PORT: u16 = 8000;

pub struct App {
    pub dir: PathBuf,
    /// The database every host's app uses, as app servers share PostgreSQL.
    pub db: tempfile::TempDir,
}

impl App {
    /// The example app committed in a fresh repository, with a ferry.toml
    /// whose environment `lab` has every Lab host as `app`, the first as `db`.
    pub fn new(lab: &Lab, extra: &str) -> App {
        App::with(lab, extra, Service::Plain)
    }

    /// The example app as it ships: its web service in two slots behind
    /// nginx (`switch = "upstream"`), for hosts set up by `ferry provision`.
    pub fn slotted(lab: &Lab, extra: &str) -> App {
        App::with(lab, extra, Service::Slotted)
    }

    fn with(lab: &Lab, extra: &str, service: Service) -> App {
        let dir = lab.dir().join("app");
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("example"), &dir);
        // Outside the hosts' private directories, so every host sees it.
        std::fs::create_dir_all("/var/cache/ferry-tests/db").unwrap();
        let db = tempfile::tempdir_in("/var/cache/ferry-tests/db").unwrap();
        Command::new("chown")
            .arg("deploy")
            .arg(db.path())
            .status()
            .unwrap();
        let app = App { dir, db };
        app.write(
            "ferry.toml",
            &config(lab, extra, &app.db.path().join("db.sqlite3"), service),
        );
        app.git(&["init", "--quiet", "--initial-branch=main"]);
        app.commit("v1");
        app
    }

    /// A repository already at `dir`, for its git helpers.
    pub fn at(dir: &Path) -> App {
        App {
            dir: dir.to_path_buf(),
            db: tempfile::tempdir().unwrap(),
        }
    }

    pub fn write(&self, path: &str, contents: &str) {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join(path)).unwrap()
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "--message", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args([
                "-c",
                "user.name=test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Service {
    /// One gunicorn on PORT that deploys restart (see `supervise`).
    Plain,
    /// The example's own: two slots behind nginx.
    Slotted,
}

/// The plain service: gunicorn on all addresses, so a test asks it directly.
const PLAIN: &str = "[services.web]
description = \"gunicorn serving app.py\"
roles = [\"app\"]
command = \"/srv/app/current/venv/bin/gunicorn --bind 0.0.0.0:8000 --workers 2 --chdir /srv/app/current app:application\"
user = \"deploy\"
on_deploy = \"restart\"

";

fn config(lab: &Lab, extra: &str, database: &Path, service: Service) -> String {
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("example/ferry.toml"))
            .unwrap();
    let mut base = example
        .split("\n[environments.")
        .next()
        .unwrap()
        .to_string();
    if service == Service::Plain {
        let start = base.find("[services.web]").unwrap();
        let end = start + base[start..].find("\n\n").unwrap() + 2;
        base.replace_range(start..end, PLAIN);
        // No slots: the probe asks the one gunicorn.
        base = base.replace(
            "127.0.0.1:{{ port }}/health",
            &format!("127.0.0.1:{PORT}/health"),
        );
    }
    let base = base.replace(
        "deploy_to = \"/srv/example\"",
        "deploy_to = \"/srv/app\"\nconnect_timeout = 3\nkeepalive = 2",
    );
    let base = base.replace("app = \"example\"", "app = \"app\"");
    let targets: Vec<String> = lab
        .hosts()
        .iter()
        .map(|h| format!("\"{}\"", h.target()))
        .collect();
    format!(
        "{extra}\n{base}\n[environments.lab]\nhosts = [{all}]\nroles.app = [{all}]\nroles.db = [{first}]\nvars = {{ wheels = \"{WHEELS}\", database = \"{database}\" }}\n",
        all = targets.join(", "),
        first = targets[0],
        database = database.display(),
    )
}

/// `from`'s tree copied into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Run gunicorn under a real supervisord on the host, the way provisioning
/// would set it up: the program starts once a release is live.
pub fn supervise(host: &Host) {
    let program = format!(
        "[program:app-web]\ncommand=/srv/app/current/venv/bin/gunicorn --bind 0.0.0.0:{PORT} --workers 2 --chdir /srv/app/current app:application\n\
         directory=/srv/app\nuser=deploy\nautostart=false\nautorestart=true\nstopasgroup=true\nkillasgroup=true\n\
         redirect_stderr=true\nstdout_logfile=/var/log/supervisor/app-web.log\n"
    );
    std::fs::create_dir_all(host.path("/etc/supervisor/conf.d")).unwrap();
    std::fs::write(host.path("/etc/supervisor/conf.d/app-web.conf"), program).unwrap();
    host.exec_ok("mkdir -p /var/log/supervisor && supervisord -c /etc/supervisor/supervisord.conf");
}

/// `GET path` on the host's app port: (status, body), or None when nothing answers.
pub fn get(addr: Ipv4Addr, path: &str) -> Option<(u16, String)> {
    let mut stream =
        TcpStream::connect_timeout(&(addr, PORT).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Where `current` points on the host: the release id.
pub fn current(host: &Host) -> Option<String> {
    let target = std::fs::read_link(host.path("/srv/app/current")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

pub fn releases(host: &Host) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(host.path("/srv/app/releases"))
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Make `program` on the host stall for `seconds` the first time its
/// arguments contain `matching` (and touch /tmp/stalled then), so a test can
/// cut the host in the middle of a phase: `tar -x` is the upload, `mv` of
/// `current.tmp` the switch. The deploy user's PATH starts with ~/bin, set
/// in ~/.ssh/environment (the test sshd permits PATH there).
pub fn stall(host: &Host, program: &str, matching: &str, seconds: u64) {
    let bin = host.path("/home/deploy/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = format!(
        "#!/bin/sh
case \"$*\" in *'{matching}'*) if [ ! -e /tmp/stalled ]; then touch /tmp/stalled; sleep {seconds}; fi ;; esac
exec /usr/bin/{program} \"$@\"\n"
    );
    std::fs::write(bin.join(program), wrapper).unwrap();
    std::fs::write(
        host.path("/home/deploy/.ssh/environment"),
        "PATH=/home/deploy/bin:/usr/local/bin:/usr/bin:/bin\n",
    )
    .unwrap();
    host.exec_ok(&format!("chmod 755 /home/deploy/bin/{program} && chown -R deploy /home/deploy/bin /home/deploy/.ssh/environment"));
    let _ = std::fs::remove_file(host.path("/tmp/stalled"));
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Lab of `n` hosts running the example app (with `extra` config) under supervisor.
pub fn lab(n: usize, extra: &str) -> (Lab, App) {
    let lab = Lab::start(n);
    let app = App::new(&lab, extra);
    for host in lab.hosts() {
        supervise(host);
    }
    (lab, app)
}

/// `ferry --config <app>/ferry.toml …` against the Lab.
pub fn ferry(lab: &Lab, app: &App, args: &[&str]) -> super::ferry::Ran {
    let mut ferry = super::ferry::Ferry::lab(lab);
    ferry.env("FERRY_CONFIG_DIR", &app.dir);
    let config = app.dir.join("ferry.toml");
    ferry.run(&[&["--config", config.to_str().unwrap()], args].concat())
}

/// `ferry lab deploy` in the background, for tests that act while it runs.
pub fn spawn_deploy(lab: &Lab, app: &App) -> std::process::Child {
    let config = app.dir.join("ferry.toml");
    super::ferry::Ferry::lab(lab).spawn(&["--config", config.to_str().unwrap(), "lab", "deploy"])
}

/// Every host's live release, which must be one and the same.
pub fn live(lab: &Lab) -> String {
    let ids: Vec<Option<String>> = lab.hosts().iter().map(current).collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "hosts disagree: {ids:?}"
    );
    ids[0].clone().expect("a live release")
}

/// What the app on `host` answers at `/`, which must be a 200.
pub fn serves(host: &Host) -> String {
    let (status, body) =
        get(host.addr(), "/").unwrap_or_else(|| panic!("{} does not answer", host.target()));
    assert_eq!(status, 200, "{body}");
    body
}
