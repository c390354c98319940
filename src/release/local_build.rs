//! `[deploy] local_build`: commands run on this machine, while the deploy
//! is planned, in a fresh copy of the release's files (the commit being
//! shipped, not the work tree), and `local_artifacts` — what they made —
//! added to the release. The normal manifest and upload then ship those
//! files like any other: only changed bytes travel, promotion carries them
//! on. A failing command stops the run before any host is touched.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use super::artifact::{Artifact, ArtifactError};
use crate::config::DeployDef;
use crate::error::Error;

/// Lines of a failed command's output kept for its failure message.
const TAIL: usize = 10;

/// `artifact` with what `deploy.local_build` made in a copy of it, or
/// `artifact` itself when there is no local build. `vars` are the deploy's
/// facts (`FERRY_*`), exported to the commands.
pub(super) fn run(
    artifact: Artifact,
    deploy: &DeployDef,
    vars: &[(String, String)],
) -> Result<Artifact, Error> {
    if deploy.local_build.is_empty() {
        return Ok(artifact);
    }
    let failed = |message: String| {
        Error::usage(
            format!("local build failed: {message}"),
            Some("nothing was sent to any host".into()),
        )
    };
    let io = |what: &str, e: std::io::Error| failed(format!("{what}: {e}"));
    let tree = tempfile::tempdir().map_err(|e| io("cannot make a directory", e))?;
    artifact
        .unpack_into(tree.path())
        .map_err(|e| io("cannot write the release's files", e))?;
    let mut vars = vars.to_vec();
    vars.extend((artifact.revision.clone()).map(|r| ("FERRY_REVISION".to_string(), r)));
    for command in &deploy.local_build {
        run_one(command, tree.path(), &vars).map_err(failed)?;
    }
    let mut artifact = artifact;
    for path in &deploy.local_artifacts {
        add_tree(&mut artifact, tree.path(), path).map_err(|e| failed(e.to_string()))?;
    }
    Ok(artifact)
}

/// `sh -c command` in `dir`, its output and errors in one file, in order.
fn run_one(command: &str, dir: &Path, vars: &[(String, String)]) -> Result<(), String> {
    let log = tempfile::tempfile().map_err(|e| format!("cannot make a log file: {e}"))?;
    let clone = || {
        log.try_clone()
            .map_err(|e| format!("cannot share the log: {e}"))
    };
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(clone()?)
        .stderr(clone()?)
        .status()
        .map_err(|e| format!("`{command}` could not start: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let how = match status.code() {
        Some(code) => format!("exited with {code}"),
        None => "was killed by a signal".to_string(),
    };
    let mut message = format!("`{command}` {how}");
    let mut text = String::new();
    let mut log = log;
    use std::io::{Read, Seek};
    if log.rewind().is_ok() && log.read_to_string(&mut text).is_ok() {
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(TAIL)..];
        if !tail.is_empty() {
            message.push_str(", its output ended with:\n");
            message.push_str(&tail.join("\n"));
        }
    }
    Err(message)
}

/// `path` under `dir` (a file, a link or a whole directory) into the
/// artifact, with the directories above it that the artifact lacks.
fn add_tree(artifact: &mut Artifact, dir: &Path, path: &str) -> Result<(), ArtifactError> {
    let read = |at: &Path, source| ArtifactError::Read {
        path: at.display().to_string(),
        source,
    };
    let full = dir.join(path);
    if std::fs::symlink_metadata(&full).is_err() {
        return Err(ArtifactError::BadPath(format!(
            "`{path}` (in local_artifacts) was not made by the local build"
        )));
    }
    let mut above = String::new();
    for part in path.split('/').take(path.split('/').count() - 1) {
        above = if above.is_empty() {
            part.to_string()
        } else {
            format!("{above}/{part}")
        };
        if artifact.manifest.get(&above).is_none() {
            artifact.add_dir(&above, 0o755)?;
        }
    }
    let mut pending = vec![path.to_string()];
    while let Some(path) = pending.pop() {
        let at = dir.join(&path);
        let meta = std::fs::symlink_metadata(&at).map_err(|e| read(&at, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&at).map_err(|e| read(&at, e))?;
            artifact.add_link(&path, target.to_string_lossy().into_owned())?;
        } else if meta.is_dir() {
            artifact.add_dir(&path, mode)?;
            let mut names = Vec::new();
            for entry in std::fs::read_dir(&at).map_err(|e| read(&at, e))? {
                let name = entry.map_err(|e| read(&at, e))?.file_name();
                let name = name.to_str().ok_or_else(|| {
                    ArtifactError::BadPath(format!(
                        "`{path}/{}`: ferry cannot ship a path that is not UTF-8",
                        name.to_string_lossy()
                    ))
                })?;
                names.push(format!("{path}/{name}"));
            }
            names.sort();
            pending.extend(names.into_iter().rev());
        } else if meta.is_file() {
            let body = std::fs::read(&at).map_err(|e| read(&at, e))?;
            let mtime = u64::try_from(meta.mtime()).unwrap_or(0);
            artifact.add_file(&path, mode, body, mtime)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(build: &[&str], artifacts: &[&str]) -> DeployDef {
        DeployDef {
            local_build: build.iter().map(|s| s.to_string()).collect(),
            local_artifacts: artifacts.iter().map(|s| s.to_string()).collect(),
            ..DeployDef::default()
        }
    }

    #[test]
    fn what_the_build_makes_under_the_artifacts_joins_the_release() {
        let artifact = Artifact::for_tests(&[("src/app.js", b"let x", 0o644)]);
        let built = run(
            artifact,
            &deploy(
                &["mkdir -p static/dist && cat src/app.js > static/dist/app.min.js && echo \"$FERRY_ENV\" > static/dist/env && touch junk"],
                &["static/dist"],
            ),
            &[("FERRY_ENV".into(), "staging".into())],
        )
        .unwrap();
        let paths: Vec<&str> = built.manifest.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "src/app.js",
                "static",
                "static/dist",
                "static/dist/app.min.js",
                "static/dist/env"
            ],
            "only the artifacts ship, with the directories above them"
        );
    }

    #[test]
    fn a_failing_command_says_which_and_how_it_ended() {
        let artifact = Artifact::for_tests(&[("a", b"a", 0o644)]);
        let error = run(
            artifact,
            &deploy(&["echo compiling; echo 'error: x' >&2; exit 4"], &["dist"]),
            &[],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains("`echo compiling; echo 'error: x' >&2; exit 4` exited with 4, its output ended with:\ncompiling\nerror: x"), "{error}");
    }

    #[test]
    fn an_artifact_the_build_did_not_make_is_an_error() {
        let artifact = Artifact::for_tests(&[("a", b"a", 0o644)]);
        let error = run(artifact, &deploy(&["true"], &["dist"]), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("`dist` (in local_artifacts) was not made"),
            "{error}"
        );
    }
}
