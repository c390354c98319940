//! From `[provision]` to one host's steps: resources for the host's roles,
//! paths rendered and checked, file contents rendered from their templates.
//! A template that fails for this host fails this host only (the others
//! are still provisioned), with a message naming the template, the line and
//! the variable.

use minijinja::Value;

use super::content;
use super::resource::{File, Resource, Step, User};
use crate::config::{FileBody, Manager, Provision, WITH_ENV};
use crate::inventory::Host;
use crate::plan::Context;
use crate::switch;
use crate::template::{self, Kind};

/// Why a host cannot be provisioned before anything runs there.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            message: message.into(),
            hint,
        }
    }
}

pub(crate) fn steps(
    provision: &Provision,
    ctx: &Context<'_>,
    host: &Host,
) -> Result<Vec<Step>, Failure> {
    let applies = |roles: &[String]| roles.is_empty() || host.has_any_role(roles);
    let become_root = |own: Option<bool>| own.unwrap_or(provision.become_root);
    let step = |resource, become_root, notify| Step {
        resource,
        become_root,
        notify,
    };
    let values = ctx.host_values(host, &Default::default());
    let path = |source: &toml::Spanned<String>| render_path(source.get_ref(), &values);
    let mut steps = Vec::new();
    for package in provision.packages.iter().filter(|p| applies(&p.roles)) {
        let resource = Resource::Package(package.name.clone());
        steps.push(step(resource, provision.become_root, vec![]));
    }
    for group in provision.groups.iter().filter(|g| applies(&g.roles)) {
        let resource = Resource::Group(group.name.clone());
        steps.push(step(resource, provision.become_root, vec![]));
    }
    for user in provision.users.iter().filter(|u| applies(&u.roles)) {
        let resource = Resource::User(User {
            name: user.name.clone(),
            system: user.system,
            home: user.home.clone(),
            shell: user.shell.clone(),
            groups: user.groups.clone(),
        });
        steps.push(step(resource, provision.become_root, vec![]));
    }
    let layout = &provision.layout;
    if applies(&layout.roles) {
        let root = &ctx.env.settings.deploy_to;
        for dir in [
            root.clone(),
            format!("{root}/releases"),
            format!("{root}/shared"),
        ] {
            let resource = Resource::Directory {
                path: dir,
                attrs: layout.attrs.clone(),
                layout: true,
            };
            steps.push(step(resource, become_root(layout.become_root), vec![]));
        }
        // With a .env, the program services run through to read it, as
        // each deploy writes it: a program provisioned before the first
        // deploy (or changed to run through it) starts without waiting.
        if ctx.env_file().is_some() {
            let resource = Resource::Directory {
                path: format!("{root}/.ferry"),
                attrs: layout.attrs.clone(),
                layout: true,
            };
            steps.push(step(resource, become_root(layout.become_root), vec![]));
            let resource = Resource::File(File {
                path: format!("{root}/{WITH_ENV}"),
                content: format!("{}\n", crate::shell::with_env_program()),
                attrs: crate::config::Attrs {
                    mode: Some(0o755),
                    ..layout.attrs.clone()
                },
                secret_prefixes: Vec::new(),
                seed: false,
            });
            steps.push(step(resource, become_root(layout.become_root), vec![]));
        }
        // Slotted services and containers behind nginx: nginx's upstream
        // file names slot a until the first deploy; from then on deploys own it.
        let mut upstreams: Vec<(String, String, u16)> = ctx
            .project
            .services
            .iter()
            .filter(|s| s.runs_on(host))
            .filter_map(|service| {
                let slots = service.slots.as_ref()?;
                let [(_, port), _] = slots.each();
                Some((service.key.clone(), slots.upstream.clone(), port))
            })
            .collect();
        if let Some(def) = ctx.project.deploy.container.as_ref().filter(|d| d.nginx) {
            let upstream = crate::container::upstream(def, &ctx.project.app, host, root, None);
            upstreams.push((upstream.service, upstream.name, def.port));
        }
        for (key, name, port) in upstreams {
            let dir = format!("{root}/slots");
            if !steps
                .iter()
                .any(|s| matches!(&s.resource, Resource::Directory { path, .. } if *path == dir))
            {
                let resource = Resource::Directory {
                    path: dir,
                    attrs: layout.attrs.clone(),
                    layout: true,
                };
                steps.push(step(resource, become_root(layout.become_root), vec![]));
            }
            let resource = Resource::File(File {
                path: switch::upstream_file(root, &key),
                content: switch::first_upstream(&key, &name, &format!("127.0.0.1:{port}")),
                attrs: layout_file_attrs(&layout.attrs),
                secret_prefixes: Vec::new(),
                seed: true,
            });
            steps.push(step(resource, become_root(layout.become_root), vec![]));
        }
    }
    for dir in provision.directories.iter().filter(|d| applies(&d.roles)) {
        let resource = Resource::Directory {
            path: path(&dir.path)?,
            attrs: dir.attrs.clone(),
            layout: false,
        };
        steps.push(step(resource, become_root(dir.become_root), vec![]));
    }
    let mut units = Vec::new();
    for file in provision.files.iter().filter(|f| applies(&f.roles)) {
        let target = path(&file.path)?;
        let resource = match &file.body {
            FileBody::Absent => Resource::Absent(target),
            FileBody::Template(source) => {
                let service = file
                    .service
                    .as_ref()
                    .and_then(|key| ctx.project.services.iter().find(|s| s.key == *key));
                if let Some(service) = service.filter(|s| s.manager == Manager::Systemd) {
                    units.push(service.unit.clone());
                }
                let rendered = content::render(ctx, host, file, &target, source, service)
                    .map_err(|f| Failure::new(format!("file {target}: {}", f.message), f.hint))?;
                let mut attrs = file.attrs.clone();
                if attrs.mode.is_none() && content::holds_secret(source, &rendered, ctx) {
                    attrs.mode = Some(content::PRIVATE_MODE);
                }
                Resource::File(File {
                    secret_prefixes: content::secret_prefixes(&rendered, &ctx.env.secrets),
                    path: target,
                    content: rendered,
                    attrs,
                    seed: false,
                })
            }
        };
        steps.push(step(
            resource,
            become_root(file.become_root),
            file.notify.clone(),
        ));
    }
    for link in provision.links.iter().filter(|l| applies(&l.roles)) {
        let resource = Resource::Link {
            path: path(&link.path)?,
            to: path(&link.to)?,
        };
        steps.push(step(
            resource,
            become_root(link.become_root),
            link.notify.clone(),
        ));
    }
    for service in provision.services.iter().filter(|s| applies(&s.roles)) {
        let resource = Resource::Service {
            name: service.name.clone(),
            enable: true,
            start: true,
        };
        steps.push(step(resource, provision.become_root, vec![]));
    }
    // An app's systemd unit starts on boot; the first deploy starts it now
    // (there is no release for it to run before that).
    units.dedup();
    for unit in units {
        let resource = Resource::Service {
            name: unit,
            enable: true,
            start: false,
        };
        steps.push(step(resource, provision.become_root, vec![]));
    }
    Ok(steps)
}

/// A path from ferry.toml, rendered for the host: absolute, one line.
fn render_path(source: &str, values: &Value) -> Result<String, Failure> {
    let path = template::render(source, Kind::Text, values)
        .map_err(|e| Failure::new(format!("path `{source}`: {e}"), e.hint()))?;
    if !path.starts_with('/') || path.chars().any(char::is_control) {
        return Err(Failure::new(
            format!("path `{source}` is `{path}` here, not an absolute path on one line"),
            None,
        ));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

/// A file of the layout: owned like the layout, readable by all (nginx).
fn layout_file_attrs(layout: &crate::config::Attrs) -> crate::config::Attrs {
    crate::config::Attrs {
        mode: Some(0o644),
        ..layout.clone()
    }
}
