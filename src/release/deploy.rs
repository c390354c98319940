//! Planning `deploy`, `hotfix` and `setup_release` (and `deploy:resume=yes`):
//! arguments bound, the artifact built from git (or the directory), and every
//! host's commands rendered — build, migrate, restarts, health check, `.env`
//! — before any host is touched. `phases` runs the plan.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::Layout;
use super::artifact::{self, Artifact};
use super::local_build;
use super::record::HistoryFacts;
use super::steps::{Commands, Health, HealthTiming, Venv};
use super::upload::Dotenv;
use crate::config::{ContainerDef, DeployDef, OnDeploy, Probe, Serial};
use crate::container::{self, Image};
use crate::error::Error;
use crate::inventory::Host;
use crate::plan::TaskCall;
use crate::plan::{Args, Context};
use crate::secret::Secret;
use crate::service::Action;
use crate::shell::Command;
use crate::switch::Upstream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Upload, build, migrate, switch, restart, check health, finish.
    Deploy,
    /// New code only: the live release's copied directories (its venv) stand
    /// in for a build, and migrations do not run (CommCare's hotfix_deploy).
    Hotfix,
    /// Upload and build, then stop: a release to switch to later.
    Setup { keep_days: Option<u32> },
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Deploy => "deploy",
            Mode::Hotfix => "hotfix",
            Mode::Setup { .. } => "setup_release",
        }
    }
}

/// One host's commands, rendered.
#[derive(Debug, Default)]
pub(crate) struct HostPlan {
    /// `[hooks]`, labelled with their point (`after_upload: …`).
    pub(crate) after_upload: Commands,
    pub(crate) before_switch: Commands,
    pub(crate) after_switch: Commands,
    pub(crate) build: Commands,
    pub(crate) migrate: Commands,
    pub(crate) restarts: Commands,
    /// Services behind nginx in two slots: moved with no gap, each slot
    /// probed on its own port before nginx sends it anything.
    pub(crate) switches: Vec<Upstream>,
    pub(crate) health: Option<Health>,
    pub(crate) dotenv: Option<Dotenv>,
    /// A container release: what the host's containers of the app are named for.
    pub(crate) container: Option<String>,
    /// `[deploy.virtualenv]`, its install commands rendered.
    pub(crate) venv: Option<Venv>,
}

impl HostPlan {
    /// Whether the release needs anything after its switch here: a
    /// restart, a slot move or a health check.
    pub(crate) fn restarts_anything(&self) -> bool {
        !self.restarts.is_empty() || !self.switches.is_empty() || self.health.is_some()
    }
}

pub(crate) struct DeployPlan {
    pub(crate) mode: Mode,
    /// For hooks' `FERRY_APP`.
    pub(crate) app: String,
    pub(crate) resume: bool,
    pub(crate) check: bool,
    pub(crate) env: String,
    pub(crate) layout: Layout,
    pub(crate) root: PathBuf,
    pub(crate) deploy: DeployDef,
    pub(crate) reference: String,
    /// Built while planning; for a resume, after the survey says which commit.
    pub(crate) artifact: Option<Artifact>,
    pub(crate) keep: usize,
    pub(crate) serial: Serial,
    pub(crate) timeout: Option<Duration>,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) hosts: HashMap<String, HostPlan>,
    pub(crate) migrate_host: Option<String>,
    pub(crate) timing: HealthTiming,
    /// A container release's image, built on this machine.
    pub(crate) image: Option<Image>,
    /// Kept in the deploy's history entry (the test gate, a promotion's source).
    pub(crate) facts: HistoryFacts,
}

impl DeployPlan {
    pub(crate) fn new(mode: Mode, call: &TaskCall, ctx: &Context<'_>) -> Result<Self, Error> {
        let keys: &[&str] = match mode {
            Mode::Deploy => &["ref", "resume"],
            Mode::Hotfix => &["ref"],
            Mode::Setup { .. } => &["ref", "keep_days"],
        };
        let args = Args::bind(call, keys)?;
        let resume = args.flag("resume")?;
        let mode = match mode {
            Mode::Setup { .. } => Mode::Setup {
                keep_days: args.number("keep_days")?,
            },
            other => other,
        };
        if resume && ctx.check {
            return Err(Error::usage(
                "`deploy:resume=yes` cannot run with --check",
                None,
            ));
        }
        let project = ctx.project;
        let reference = args
            .get("ref")
            .unwrap_or(&ctx.env.settings.branch)
            .to_string();
        let (artifact, image) = if resume {
            (None, None)
        } else {
            let artifact = build_artifact(&project.root, &project.deploy, &reference)?;
            let artifact = local_build::run(
                artifact,
                &project.deploy,
                &local_build_vars(ctx, &project.root, &reference),
            )?;
            match &project.deploy.container {
                Some(def) => {
                    let (artifact, image) = build_image(artifact, def)?;
                    (Some(artifact), Some(image))
                }
                None => (Some(artifact), None),
            }
        };
        let mut plan = Self::with_artifact(mode, resume, reference, artifact, ctx)?;
        plan.image = image;
        Ok(plan)
    }

    /// A deploy of `artifact` as it is, built elsewhere: a promotion ships
    /// the very files another environment runs.
    /// For a container release the artifact names the image, and `image` is that
    /// image (fetched, never rebuilt).
    pub(crate) fn promoting(
        ctx: &Context<'_>,
        artifact: Artifact,
        image: Option<Image>,
        from: String,
    ) -> Result<Self, Error> {
        if ctx.project.deploy.container.is_some() != image.is_some() {
            return Err(Error::usage(
                "the release promoted and the project disagree on whether it is a container image",
                None,
            ));
        }
        let reference = artifact.reference.clone();
        let mut plan = Self::with_artifact(Mode::Deploy, false, reference, Some(artifact), ctx)?;
        plan.image = image;
        plan.facts.promoted_from = Some(from);
        Ok(plan)
    }

    fn with_artifact(
        mode: Mode,
        resume: bool,
        reference: String,
        artifact: Option<Artifact>,
        ctx: &Context<'_>,
    ) -> Result<Self, Error> {
        let project = ctx.project;
        let registry = project
            .deploy
            .container
            .as_ref()
            .and_then(|c| c.registry.as_ref());
        if let Some((_, name)) = registry.and_then(|r| r.login.as_ref()) {
            if !ctx.env.secrets.iter().any(|s| s.name == *name) {
                return Err(Error::usage(
                    format!(
                        "[container] registry_password names `{name}`, which is not a secret of {}",
                        ctx.env.name
                    ),
                    Some(format!("add it: [secrets] {name} = \"${{{name}}}\"")),
                ));
            }
        }
        let mut plan = Self {
            mode,
            app: project.app.clone(),
            resume,
            check: ctx.check,
            env: ctx.env.name.clone(),
            layout: Layout::new(&ctx.env.settings.deploy_to),
            root: project.root.clone(),
            deploy: project.deploy.clone(),
            reference,
            artifact,
            image: None,
            keep: ctx.env.settings.keep_releases as usize,
            serial: project.deploy.serial.unwrap_or(Serial::All),
            timeout: project.deploy.timeout,
            secrets: ctx.env.secrets.clone(),
            hosts: HashMap::new(),
            migrate_host: migrate_host(ctx)?,
            timing: HealthTiming {
                deadline: project
                    .deploy
                    .health
                    .as_ref()
                    .map_or(30, |h| h.deadline.as_secs()),
                interval: project
                    .deploy
                    .health
                    .as_ref()
                    .map_or(1, |h| h.interval.as_secs()),
            },
            facts: HistoryFacts {
                tests: ctx.tests.map(str::to_string),
                promoted_from: None,
            },
        };
        for host in ctx.hosts {
            plan.hosts
                .insert(host.label.clone(), host_plan(ctx, host, mode)?);
        }
        Ok(plan)
    }
}

pub(crate) fn build_artifact(
    root: &std::path::Path,
    deploy: &DeployDef,
    reference: &str,
) -> Result<Artifact, Error> {
    artifact::build(root, deploy, reference).map_err(|e| {
        let hint = match &e {
            artifact::ArtifactError::UnknownRef(_) => Some("pass deploy:ref=<branch|tag|sha>, or set `branch` in ferry.toml".into()),
            artifact::ArtifactError::Git(_) => Some("ferry ships a git commit; for a directory without git set [deploy] source = \"dir\"".into()),
            artifact::ArtifactError::BadPath(_) => Some("rename the file (`git mv`), or leave it out with [deploy] exclude; nothing was sent to any host".into()),
            _ => None,
        };
        Error::usage(format!("cannot build the release: {e}"), hint)
    })
}

/// What a local build knows: the environment, the project, the commit.
fn local_build_vars(
    ctx: &Context<'_>,
    root: &std::path::Path,
    reference: &str,
) -> Vec<(String, String)> {
    let project = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    vec![
        ("FERRY_APP".into(), ctx.project.app.clone()),
        ("FERRY_ENV".into(), ctx.env.name.clone()),
        ("FERRY_REF".into(), reference.to_string()),
        ("FERRY_PROJECT".into(), project.display().to_string()),
    ]
}

/// The image of a container release, built from the release's files; the release
/// itself then holds only the image's id.
pub(super) fn build_image(
    artifact: Artifact,
    def: &ContainerDef,
) -> Result<(Artifact, Image), Error> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::usage(
            format!("cannot build the image: {e}"),
            Some("nothing was sent to any host".into()),
        )
    };
    let context = tempfile::tempdir().map_err(|e| failed(&e))?;
    artifact
        .unpack_into(context.path())
        .map_err(|e| failed(&e))?;
    let revision = match &artifact.revision {
        Some(revision) => revision.clone(),
        None => artifact.manifest.digest(),
    };
    let image = container::build(context.path(), def, &revision).map_err(|e| failed(&e))?;
    let id = format!("{}\n", image.id);
    let artifact = artifact
        .replaced_by(&[(container::IMAGE_FILE, id.into_bytes())])
        .map_err(|e| failed(&e))?;
    Ok((artifact, image))
}

/// The first selected host of `migrate_role` (any host without one).
fn migrate_host(ctx: &Context<'_>) -> Result<Option<String>, Error> {
    let container_migrates = ctx
        .project
        .deploy
        .container
        .as_ref()
        .is_some_and(|c| !c.migrate.is_empty());
    if ctx.project.deploy.migrate.is_empty() && !container_migrates {
        return Ok(None);
    }
    let role = ctx.project.deploy.migrate_role.as_ref();
    let host = ctx
        .hosts
        .iter()
        .find(|h| role.is_none_or(|r| h.roles.contains(r)));
    match (host, role) {
        (Some(host), _) => Ok(Some(host.label.clone())),
        (None, Some(role)) => Err(Error::usage(
            format!("no selected host has role `{role}`, where migrations run"),
            Some("select a host of that role, or change [deploy] migrate_role".into()),
        )),
        (None, None) => Ok(None),
    }
}

pub(super) fn host_plan(ctx: &Context<'_>, host: &Host, mode: Mode) -> Result<HostPlan, Error> {
    let deploy = &ctx.project.deploy;
    let values = ctx.host_values(host, &Default::default());
    let exports = ctx.value_exports(host, &Default::default())?;
    let env_file = ctx.env_file();
    let commands = |what: &str, sources: &[toml::Spanned<String>]| -> Result<Commands, Error> {
        let mut steps = Vec::new();
        for source in sources {
            let command = ctx.render(what, source, &values)?;
            // A step that renders to nothing ({% if … %}) is not a step.
            if !command.trim().is_empty() {
                steps.push((label(source.get_ref()), Command::user(command)));
            }
        }
        Ok(Commands {
            steps,
            exports: exports.clone(),
            env_file: env_file.clone(),
        })
    };
    let mut plan = HostPlan {
        build: if mode == Mode::Hotfix {
            Commands::default()
        } else {
            commands("[deploy] build", &deploy.build)?
        },
        migrate: commands("[deploy] migrate", &deploy.migrate)?,
        venv: match &deploy.virtualenv {
            Some(def) => Some(Venv {
                path: def.path.clone(),
                python: def.python.clone(),
                requirements: def.requirements.clone(),
                install: commands("[deploy.virtualenv] install", &def.install)?.steps,
            }),
            None => None,
        },
        ..HostPlan::default()
    };
    let hook = |point: &str, sources: &[toml::Spanned<String>]| -> Result<Commands, Error> {
        let mut hooks = commands(&format!("[hooks] {point}"), sources)?;
        for (label, _) in &mut hooks.steps {
            *label = format!("{point}: {label}");
        }
        Ok(hooks)
    };
    plan.after_upload = hook("after_upload", &deploy.hooks.after_upload)?;
    if !matches!(mode, Mode::Setup { .. }) {
        plan.before_switch = hook("before_switch", &deploy.hooks.before_switch)?;
        plan.after_switch = hook("after_switch", &deploy.hooks.after_switch)?;
    }
    plan.restarts.exports.clone_from(&exports);
    // A health check's command sees the .env like the app.
    plan.restarts.env_file.clone_from(&env_file);
    if let Some(def) = &deploy.container {
        let env_file = deploy.dotenv.as_ref().map(|d| d.file.as_str());
        if let Some(command) = container::migrate(def, env_file) {
            plan.migrate
                .steps
                .push(("migrate in a one-off container".into(), command));
        }
        // The containers are the slots of the switch: rollback, the put-back
        // and `restart` move them as a deploy does.
        let deploy_to = &ctx.env.settings.deploy_to;
        plan.switches.push(container::upstream(
            def,
            &ctx.project.app,
            host,
            deploy_to,
            env_file,
        ));
        let name = container::name(&ctx.project.app, host);
        plan.restarts
            .steps
            .push(("remove old images".into(), container::prune(def, &name)));
        plan.container = Some(name);
    }
    for service in ctx.project.services.iter().filter(|s| s.runs_on(host)) {
        if service.on_deploy == OnDeploy::None {
            continue;
        }
        if let Some(upstream) = service.upstream(ctx, host)? {
            plan.switches.push(upstream);
            continue;
        }
        let action = match service.on_deploy {
            OnDeploy::Restart => Action::Restart,
            OnDeploy::Reload => Action::Reload,
            OnDeploy::None => continue,
        };
        let command = service.control(action, ctx, host)?;
        plan.restarts.steps.push((
            format!("{} {}", action.as_str(), service.key),
            Command::user(command),
        ));
    }
    // With slots, the probe ran on each new slot before nginx moved to it.
    if let Some(health) = deploy
        .health
        .as_ref()
        .filter(|h| h.roles.is_empty() || host.has_any_role(&h.roles))
        .filter(|_| plan.switches.is_empty())
    {
        plan.health = Some(match &health.probe {
            Probe::Url(url) => Health::Url {
                url: ctx.render_as(
                    "[deploy.health] url",
                    url,
                    crate::template::Kind::Text,
                    &values,
                )?,
                expect: health.expect.clone(),
                headers: ctx.health_headers(health, &values)?,
            },
            Probe::Command(command) => Health::Command(Command::user(ctx.render(
                "[deploy.health] command",
                command,
                &values,
            )?)),
        });
    }
    if let Some(dotenv) = &deploy.dotenv {
        plan.dotenv = Some(dotenv_plan(ctx, dotenv, &values)?);
    }
    Ok(plan)
}

fn label(step: &str) -> String {
    let line = step.trim().lines().next().unwrap_or("");
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else {
        line.to_string()
    }
}

/// What goes into shared/<file> (mode 0600, by rename): the values, the
/// secrets, and generated values kept from the file already there.
fn dotenv_plan(
    ctx: &Context<'_>,
    dotenv: &crate::config::DotenvDef,
    values: &minijinja::Value,
) -> Result<Dotenv, Error> {
    let mut lines = Vec::new();
    let mut secrets = Vec::new();
    for (key, source) in &dotenv.values {
        let value = ctx.render_as(
            &format!("[deploy.dotenv] {key}"),
            source,
            crate::template::Kind::Text,
            values,
        )?;
        lines.push(format!("{key}={}", crate::dotenv::quote(&value)));
    }
    for name in &dotenv.secrets {
        let secret = ctx
            .env
            .secrets
            .iter()
            .find(|s| s.name == *name.get_ref())
            .ok_or_else(|| {
                Error::from(
                    ctx.project
                        .file
                        .error(
                            name.span(),
                            format!(
                                "`{}` is not in [secrets] for environment `{}`",
                                name.get_ref(),
                                ctx.env.name
                            ),
                        )
                        .label("unknown secret"),
                )
            })?;
        // Apart from the plain lines: each its own word, which the
        // redactor knows (a secret's .env form shell-quoted).
        secrets.push((secret.name.clone(), crate::dotenv::quote(secret.expose())));
    }
    Ok(Dotenv {
        file: dotenv.file.clone(),
        lines: lines.iter().map(|l| format!("{l}\n")).collect(),
        secrets,
        generate: dotenv.generate.clone(),
    })
}

#[cfg(test)]
mod tests {
    /// What ferry writes into the .env, the host's `ferry_env` (the loader
    /// of steps, `run` and services' with-env) reads back byte for byte,
    /// running nothing: a value is data in both directions.
    #[test]
    fn the_host_reads_back_every_value_ferry_writes() {
        let values = [
            "plain",
            "a b",
            "say \"hi\" $HOME `id` $(touch pwned) ; rm -rf x",
            "back\\slash\\n and \\",
            "two\nlines\n",
            "it's 'quoted'",
            "trailing space ",
            "ünïcödé ✓",
            "cr\rhere",
            "",
            "=starts=with=equals",
        ];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        let mut text = String::from("# a comment\nnot an assignment\nferry_l=kept out\n");
        for (i, value) in values.iter().enumerate() {
            text.push_str(&format!("K{i}={}\n", crate::dotenv::quote(value)));
        }
        std::fs::write(&file, text).unwrap();
        let script = format!(
            "{}\nferry_env \"$1\"\ni=0\nwhile [ $i -lt {} ]; do eval \"printf '%s\\0' \\\"\\$K$i\\\"\"; i=$((i + 1)); done\n[ -z \"${{ferry_l+set}}\" ] || [ \"$ferry_l\" != 'kept out' ]",
            crate::shell::PRELUDE,
            values.len()
        );
        for sh in ["sh", "dash", "bash"] {
            let output = std::process::Command::new(sh)
                .args(["-c", &script, "sh"])
                .arg(&file)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(output.status.success(), "{sh}: {output:?}");
            let read: Vec<&str> = std::str::from_utf8(&output.stdout)
                .unwrap()
                .split_terminator('\0')
                .collect();
            assert_eq!(read, values, "{sh}");
            assert!(!dir.path().join("pwned").exists(), "{sh} ran a value");
        }
    }
}
