//! `[container] registry`: the image is pushed from this machine to a registry, and
//! each host pulls it by digest (only the layers its engine lacks, as docker does),
//! then checks it holds the very image that was built. A login's password reaches
//! `docker login` on stdin here, and through an exported variable of the script's
//! stdin on the hosts; there `docker login` writes to a throwaway `DOCKER_CONFIG`,
//! gone when the pull ends.

use std::io::Write;
use std::process::{Command, Stdio};

use super::build::{ContainerError, Image};
use crate::config::Registry;
use crate::secret::Secret;
use crate::shell::{Script, Word};

/// The variable the hosts' script reads the password from.
const PASSWORD: &str = "FERRY_REGISTRY_PASSWORD";

/// Pushes `image` as `<repository>:<tag's revision>`; the reference hosts pull,
/// `<repository>@sha256:…`.
pub(crate) fn push(
    image: &Image,
    registry: &Registry,
    password: Option<&Secret>,
) -> Result<String, ContainerError> {
    let revision = image.tag.rsplit_once(':').map_or("latest", |(_, r)| r);
    let tag = format!("{}:{revision}", registry.repository);
    // With a login of its own, a throwaway config: the user's stays as it is.
    let config = tempfile::tempdir().map_err(ContainerError::NoDocker)?;
    let docker = |args: &[&str], stdin: Option<&[u8]>| -> Result<Vec<u8>, ContainerError> {
        let mut command = Command::new("docker");
        if registry.login.is_some() {
            command.env("DOCKER_CONFIG", config.path());
        }
        run(command.args(args), stdin)
    };
    if let (Some((user, _)), Some(password)) = (&registry.login, password) {
        docker(
            &[
                "login",
                "--username",
                user,
                "--password-stdin",
                &registry.host,
            ],
            Some(password.expose().as_bytes()),
        )?;
    }
    // A promotion's image may come from a host's archive: this engine loads it first.
    if docker(&["image", "inspect", &image.id], None).is_err() {
        docker(&["load", "-q"], Some(&image.archive))?;
    }
    docker(&["tag", &image.id, &tag], None)?;
    docker(&["push", &tag], None)?;
    let digests = docker(
        &[
            "image",
            "inspect",
            "--format",
            "{{range .RepoDigests}}{{println .}}{{end}}",
            &tag,
        ],
        None,
    )?;
    let prefix = format!("{}@", registry.repository);
    String::from_utf8_lossy(&digests)
        .lines()
        .find(|line| line.starts_with(&prefix))
        .map(str::to_string)
        .ok_or_else(|| ContainerError::Docker {
            command: "push".into(),
            output: format!("the engine names no digest of {tag} after pushing it"),
        })
}

/// `docker pull REFERENCE` on the host unless its engine holds `image`, logged in
/// when the registry wants a login; the image's id checked, tagged `<repo>:<release>`.
pub(crate) fn pull(
    script: &mut Script,
    reference: &str,
    image: &str,
    repo: &str,
    release: &str,
    registry: &Registry,
    password: Option<&Secret>,
) {
    if let Some(password) = password {
        script.exports(&[Secret::new(PASSWORD.into(), password.expose().into())]);
    }
    let user = registry
        .login
        .as_ref()
        .map_or("", |(user, _)| user.as_str());
    script.call(
        "ferry_ctr_pull",
        [
            Word::lit(image),
            Word::lit(reference),
            Word::lit(repo),
            Word::lit(release),
            Word::lit(&registry.host),
            Word::lit(user),
        ],
    );
}

/// Runs `command`, `stdin` written to it; its stdout, or the end of what it said.
fn run(command: &mut Command, stdin: Option<&[u8]>) -> Result<Vec<u8>, ContainerError> {
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ContainerError::NoDocker)?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).map_err(ContainerError::NoDocker)?;
    }
    let out = child.wait_with_output().map_err(ContainerError::NoDocker)?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(ContainerError::Docker {
        command: command
            .get_args()
            .next()
            .map_or_else(String::new, |a| a.to_string_lossy().into_owned()),
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pull_is_shellcheck_clean_and_the_password_is_not_an_argument() {
        let registry = Registry {
            repository: "r.example:5000/it's/shop".into(),
            host: "r.example:5000".into(),
            login: Some(("c'i $(id)".into(), "PW".into())),
        };
        let password = Secret::new("PW".into(), "s3cr'et $(touch x)".into());
        let mut script = Script::new();
        script.library(&crate::container::HELPERS);
        pull(
            &mut script,
            "r.example:5000/shop@sha256:ab",
            "sha256:cd",
            "shop",
            "20260102T000000Z",
            &registry,
            Some(&password),
        );
        let text = script.build();
        crate::shell::tests::shellcheck("container pull", &text);
        // The password is exported from the script's text (stdin), never a word of a call.
        let call = text
            .lines()
            .find(|l| l.starts_with("ferry_ctr_pull "))
            .unwrap();
        assert!(!call.contains("s3cr"), "{call}");
        assert!(text.contains("export FERRY_REGISTRY_PASSWORD="));
    }
}
