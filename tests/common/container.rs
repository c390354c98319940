//! Container deploys as a test runs them: a Lab whose hosts each run their own Docker
//! Engine, one more host whose engine stands for the machine ferry builds on (no daemon
//! runs on the machine itself), and a project whose image builds `FROM scratch` with
//! Debian's busybox-static (no registry is reachable): `busybox httpd` serves a page that
//! names the version, and a "migration" appends to a data file mounted from the host.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use super::app::App;
use super::ferry::Ferry;
use super::hosts::{Host, Lab};

/// Where the app listens: ferry passes the port in `PORT`, this or the next one.
pub const PORT: u16 = 8000;
pub const BUSYBOX: &str = "/bin/busybox";

/// The Lab's deploy targets (all but the last host) and the builder (the last).
pub struct ContainerLab {
    pub lab: Lab,
    pub dir: PathBuf,
}

impl ContainerLab {
    /// `n` hosts to deploy to, and the builder; every one with its own engine.
    pub fn start(n: usize) -> ContainerLab {
        let lab = Lab::start(n + 1);
        std::thread::scope(|s| {
            for host in lab.hosts() {
                s.spawn(|| host.start_docker());
            }
        });
        let dir = lab.dir().join("app");
        let ctr = ContainerLab { lab, dir };
        ctr.write_project();
        ctr
    }

    /// The hosts ferry deploys to.
    pub fn targets(&self) -> &[Host] {
        let hosts = self.lab.hosts();
        &hosts[..hosts.len() - 1]
    }

    pub fn builder(&self) -> &Host {
        self.lab.hosts().last().expect("a builder")
    }

    /// `ferry` in the project, building with the builder's engine (the legacy builder,
    /// as BuildKit's extra plugin may be missing).
    pub fn ferry(&self) -> Ferry {
        let mut ferry = Ferry::new(&self.dir);
        ferry.env("FERRY_SSH_CONFIG", self.lab.ssh_config());
        let socket = format!("unix://{}", self.builder().docker_socket().display());
        ferry.env("DOCKER_HOST", socket).env("DOCKER_BUILDKIT", "0");
        ferry
    }

    pub fn write(&self, path: &str, contents: &str) {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "--message", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let app = App::at(&self.dir);
        app.git(args)
    }

    /// The page the app serves names `version`; its migration appends a line.
    pub fn set_version(&self, version: &str) {
        self.write("app/www/index.html", &format!("version {version}\n"));
        self.write(
            "app/migrate.sh",
            &format!("{BUSYBOX} echo 'migrated {version}' >>/data/db.sqlite3\n"),
        );
    }

    fn write_project(&self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::copy(BUSYBOX, self.dir.join("busybox")).unwrap();
        self.write(
            "Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY app/ /app/\n\
             CMD [\"/bin/busybox\", \"sh\", \"/app/start.sh\"]\n",
        );
        // The greeting comes from the .env file, to show it reached the container.
        self.write(
            "app/start.sh",
            &format!(
                "{BUSYBOX} echo \"$GREETING\" >/app/www/greeting.txt\n\
                 {BUSYBOX} echo \"serving on port $PORT\" >&2\n\
                 exec {BUSYBOX} httpd -f -p \"$PORT\" -h /app/www\n"
            ),
        );
        self.set_version("1");
        let targets: Vec<String> = self
            .targets()
            .iter()
            .map(|h| format!("\"{}\"", h.target()))
            .collect();
        let targets = targets.join(", ");
        self.write(
            "ferry.toml",
            &format!(
                "app = \"shop\"\ndeploy_to = \"/srv/app\"\nconnect_timeout = 3\nkeepalive = 2\n\n\
                 [container]\nimage = \"shop\"\nport = {PORT}\nhealth = \"/index.html\"\n\
                 migrate = [\"{BUSYBOX}\", \"sh\", \"/app/migrate.sh\"]\n\
                 files = {{ \"db.sqlite3\" = \"/data/db.sqlite3\" }}\n\n\
                 [deploy.dotenv]\nvalues = {{ GREETING = \"hello\" }}\ngenerate = [\"SECRET_KEY\"]\n\n\
                 [environments.lab]\nhosts = [{targets}]\nroles.app = [{targets}]\n"
            ),
        );
        self.git(&["init", "--quiet", "--initial-branch=main"]);
        self.commit("v1");
    }
}

/// What the host's live container serves at `path`, on whichever of the two ports it
/// runs: (port, body). None when neither answers.
pub fn serving(addr: Ipv4Addr, path: &str) -> Option<(u16, String)> {
    [PORT, PORT + 1].into_iter().find_map(|port| {
        let answer = super::http::get_at(addr, port, path).ok()?;
        (answer.status == 200).then_some((port, answer.body))
    })
}

/// `docker …` as the deploy user on the host, via its own engine; stdout.
pub fn docker(host: &Host, args: &str) -> String {
    host.exec_ok(&format!("su deploy -c 'docker {args}'"))
}

/// Names of the host's running containers.
pub fn running(host: &Host) -> Vec<String> {
    let out = docker(host, "ps --format {{.Names}}");
    let mut names: Vec<String> = out.lines().map(str::to_string).collect();
    names.sort();
    names
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The releases the host's running containers run (their `ferry.release` label), sorted.
pub fn running_releases(host: &Host) -> Vec<String> {
    let out = docker(host, "ps --format \"{{.Label \\\"ferry.release\\\"}}\"");
    let mut releases: Vec<String> = out.lines().map(str::to_string).collect();
    releases.sort();
    releases
}
