//! `check` for container projects: whether the SSH user can run containers on a
//! host — the `docker` command, an engine that answers, access to its socket —
//! and, when it cannot, what to tell the user; which of the app's containers run
//! there, for `deploy --check`.

use crate::protocol::DockerProblem;
use crate::shell::{Script, Word};

/// Prints what the host has; reports `Marker::Docker` when the user cannot run
/// containers there. Changes nothing.
pub(crate) fn probe(script: &mut Script) {
    script.code("ferry_ctr_check");
}

/// Reports the names of the app's containers running on the host (`prefix` is
/// `name(app, host)`).
pub(crate) fn running(script: &mut Script, prefix: &str) {
    script.call("ferry_ctr_running", [Word::lit(prefix)]);
}

/// The failure's message and its hint, for the environment `env`.
pub(crate) fn explain(problem: DockerProblem, said: &str, env: &str) -> (String, String) {
    let provision = format!("`ferry {env} provision`");
    match problem {
        DockerProblem::Cli => (
            "docker is not installed".into(),
            format!("{provision} installs Debian's docker.io and starts it"),
        ),
        DockerProblem::Engine => (
            format!("the Docker Engine does not answer: {said}"),
            format!("start it (`sudo service docker start`); {provision} enables and starts it"),
        ),
        DockerProblem::Access => (
            format!("the SSH user may not use the Docker Engine: {said}"),
            format!(
                "add the user to the docker group ({provision} does); it applies from its next login"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_shellcheck_clean() {
        let mut script = Script::new();
        script.library(&crate::container::HELPERS);
        probe(&mut script);
        running(&mut script, "shop-app");
        crate::shell::tests::shellcheck("container check", &script.build());
    }

    #[test]
    fn each_problem_says_what_to_do() {
        let (message, hint) = explain(DockerProblem::Access, "permission denied", "prod");
        assert!(message.ends_with("permission denied"), "{message}");
        assert!(hint.contains("docker group") && hint.contains("`ferry prod provision`"));
        let (message, _) = explain(DockerProblem::Cli, "", "prod");
        assert_eq!(message, "docker is not installed");
    }
}
