//! `ferry <env> run -- COMMAND [ARG…]`: an ad-hoc command on every selected
//! host, in the live release when there is one. Each word after `--` reaches
//! the host as one literal word; there is no shell parsing of it on the way.

use super::Context;
use super::project::Scripts;
use crate::error::Error;
use crate::script::{Script, quote};

pub(crate) fn plan(ctx: &Context<'_>) -> Result<Scripts, Error> {
    if ctx.command.is_empty() {
        return Err(Error::usage(
            "`run` needs a command after `--`",
            Some("for example: ferry production run -- python manage.py check".into()),
        ));
    }
    let command: Vec<String> = ctx
        .command
        .iter()
        .map(|word| quote(word).into_owned())
        .collect();
    let command = command.join(" ");
    let current = format!("{}/current", ctx.env.settings.deploy_to);
    let label = ctx.command.join(" ");
    let exports = ctx.value_exports(&Default::default())?;
    Ok(Scripts::one_per_host(ctx.hosts, None, |_| {
        let mut script = Script::new();
        script.exports(&ctx.env.secrets);
        for export in &exports {
            script.line(export);
        }
        script
            .line(&format!(
                "if [ -d {0} ]; then cd {0} || exit; fi",
                quote(&current)
            ))
            .step(1, &label, &command);
        (script.build(), vec![label.clone()])
    }))
}
