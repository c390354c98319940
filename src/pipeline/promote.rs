//! `ferry promote <from> <to>`: put on `<to>` the very artifact `<from>`
//! runs. Every `<from>` host must run the same deployed release (same id,
//! same artifact digest), or nothing happens and the hosts are named. The
//! release's files come from one `<from>` host through this machine, are
//! checked against the digest its record holds, and go to `<to>` as a
//! normal deploy — `<to>`'s own build, migrate, restart and health check,
//! its shared data kept — recording the same revision and digest. Nothing
//! is built from the repository, so a newer commit cannot slip in. For a
//! container release the artifact is the image: the one `<from>` runs, from
//! this machine's engine or saved by the `<from>` host, checked by id there.

use super::Stage;
use super::after::{self, Stopped};
use super::live::{Deployed, agreed_live};
use crate::release::DeployPlan;

/// Promote, then what follows any deploy of `to` (functional tests, tags,
/// hooks). What `to` runs when it ends up on `from`'s release and passed.
pub(crate) async fn promote(from: &Stage<'_>, to: &Stage<'_>) -> Result<Deployed, Stopped> {
    let mut facts = after::facts(to, "promote");
    let plan = match prepare(from, to).await {
        Ok((plan, source)) => {
            facts.from = Some(source);
            plan
        }
        Err(problem) => {
            to.fanout.fail(format!(
                "promote {} to {} refused, nothing changed on {}: {problem}",
                from.name(),
                to.name(),
                to.name()
            ));
            return Err(Stopped::Deploy(format!("untouched: {problem}")));
        }
    };
    if !after::before_deploy(to, &facts).await {
        return Err(Stopped::Deploy(
            "untouched: a pre_deploy hook failed".into(),
        ));
    }
    plan.execute(&to.hosts(), to.fanout).await;
    after::after_deploy(to, facts).await
}

/// `from`'s live release, fetched and checked, as a deploy plan for `to`;
/// with `<env> <release>` it came from.
async fn prepare(from: &Stage<'_>, to: &Stage<'_>) -> Result<(DeployPlan, String), String> {
    let live = agreed_live(from, "live").await?;
    let record = live.record().clone();
    let hosts = from.hosts();
    let source = hosts.first().ok_or("no host to fetch from")?;
    let task = format!("{}/fetch", from.name());
    let mut artifact =
        crate::release::fetch(from.fanout, &task, source, &from.layout(), &live.release).await?;
    let digest = artifact.manifest.digest();
    if digest != record.origin.digest {
        return Err(format!(
            "the files of release {} on {} do not match its record (digest {} instead of {}); it was changed on the host",
            live.release, source.label, digest, record.origin.digest
        ));
    }
    artifact.revision = record.origin.revision.clone();
    artifact.reference = record.origin.reference.clone();
    let from_text = format!("{} {}", from.name(), live.release);
    from.fanout.events.note(format!(
        "promoting {} release {} ({}) to {}",
        from.name(),
        live.release,
        record.short_revision(),
        to.name()
    ));
    // A container release is the image: the very one `from` runs goes.
    let image = match &to.ctx.project.deploy.container {
        Some(def) => Some(
            crate::release::fetch_image(
                from.fanout,
                &format!("{}/fetch-image", from.name()),
                &[source],
                &from.layout(),
                &artifact,
                &def.image,
                &live.release,
            )
            .await?,
        ),
        None => None,
    };
    let plan = DeployPlan::promoting(to.ctx, artifact, image, from_text.clone())
        .map_err(|e| format!("cannot plan the deploy: {e}"))?;
    Ok((plan, from_text))
}
