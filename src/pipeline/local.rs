//! Commands run on this machine, in the project's directory: tests before a
//! deploy, functional tests after it, hooks. Each is the user's own shell
//! line (`sh -c`), given the deploy's facts as `FERRY_*` variables (never
//! secrets, never in argv); its output is shown line by line as the output
//! of a host named `local`, through the same redacting event stream.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use crate::event::Events;
use crate::transport::Stream;

/// The name local output is shown under.
pub(crate) const LOCAL: &str = "local";
/// Lines of a failed command's output kept for its failure message.
const TAIL: usize = 10;

/// A local command that did not succeed: which, how, and its last words.
#[derive(Debug)]
pub(crate) struct LocalFailure {
    pub(crate) command: String,
    pub(crate) how: String,
    pub(crate) tail: Vec<String>,
}

impl LocalFailure {
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("`{}` {}", self.command, self.how);
        if !self.tail.is_empty() {
            text.push_str(", its output ended with:\n");
            text.push_str(&self.tail.join("\n"));
        }
        text
    }
}

/// Run `commands` in order in `dir`; stop at the first that fails.
pub(crate) async fn run_all(
    what: &str,
    commands: &[String],
    dir: &Path,
    vars: &[(String, String)],
    events: &Events,
) -> Result<(), LocalFailure> {
    for command in commands {
        events.note(format!("{LOCAL}: {what} `{command}`"));
        run(command, dir, vars, events).await?;
    }
    Ok(())
}

async fn run(
    command: &str,
    dir: &Path,
    vars: &[(String, String)],
    events: &Events,
) -> Result<(), LocalFailure> {
    let failure = |how: String, tail: Vec<String>| LocalFailure {
        command: command.to_string(),
        how,
        tail,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failure(format!("could not start: {e}"), Vec::new()))?;
    let tail = std::sync::Mutex::new(std::collections::VecDeque::new());
    let show = |line: String| {
        let mut tail = tail.lock().expect("not poisoned");
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line.clone());
        events.output(LOCAL, Stream::Stdout, line);
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    tokio::join!(lines(stdout, &show), lines(stderr, &show));
    let status = child
        .wait()
        .await
        .map_err(|e| failure(format!("could not be waited for: {e}"), Vec::new()))?;
    if status.success() {
        return Ok(());
    }
    let how = match status.code() {
        Some(code) => format!("exited with {code}"),
        None => "was killed by a signal".to_string(),
    };
    Err(failure(
        how,
        tail.into_inner().expect("not poisoned").into(),
    ))
}

/// Each line of `pipe` as it comes (not UTF-8: shown lossily).
async fn lines(pipe: Option<impl AsyncRead + Unpin>, show: &impl Fn(String)) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                show(text.trim_end_matches(['\n', '\r']).to_string());
            }
        }
    }
}
