//! `ferry <env> run -- COMMAND [ARG…]`: an ad-hoc command on every selected
//! host, in the live release when there is one. Each word after `--` reaches
//! the host as one literal word; there is no shell parsing of it on the way.
//! For a container release, the command runs in the live container (`docker exec`).

use super::project::Scripts;
use crate::error::Error;
use crate::plan::Context;
use crate::shell::{Command, Script, Word};

pub(crate) fn plan(ctx: &Context<'_>) -> Result<Scripts, Error> {
    if ctx.command.is_empty() {
        return Err(Error::usage(
            "`run` needs a command after `--`",
            Some("for example: ferry production run -- python manage.py check".into()),
        ));
    }
    let command = Command::argv(ctx.command);
    let current = format!("{}/current", ctx.env.settings.deploy_to);
    let label = ctx.command.join(" ");
    let container = ctx.project.deploy.container.is_some();
    let exports = ctx.value_exports(&Default::default())?;
    let env_file = ctx.env_file();
    Ok(Scripts::one_per_host(ctx.hosts, None, |host| {
        let mut script = Script::new();
        if container {
            let name = crate::container::name(&ctx.project.app, host);
            let command = crate::container::exec(&ctx.env.settings.deploy_to, &name, ctx.command);
            script
                .library(&crate::container::HELPERS)
                .step(1, &label, &command);
            return (script.build(), vec![label.clone()]);
        }
        script
            .exports(&ctx.env.secrets)
            .values(&exports)
            .set("ferry_here", Word::lit(&current));
        script
            .env_file(env_file.as_deref().map(Word::lit))
            .code(r#"if [ -d "$ferry_here" ]; then cd "$ferry_here" || exit; fi"#)
            .step(1, &label, &command);
        (script.build(), vec![label.clone()])
    }))
}
