//! Small helpers for running the machine's tools (ip, ssh-keygen, mount) and touching
//! files, each failing the test with a message that says what went wrong.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use nix::fcntl::{Flock, FlockArg};

/// The file at `path`, created if need be, locked as `how` says; `None` if a
/// non-blocking lock is held elsewhere.
pub(super) fn lock_file(path: &Path, how: FlockArg) -> Option<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path);
    let file = file.unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    Flock::lock(file, how).ok()
}

/// Runs `ip [args] -batch -` with `script` on stdin; fails the test if ip fails.
pub(super) fn ip(args: &[&str], script: &str) {
    let out = ip_output(args, script).expect("cannot run ip");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ip {args:?} failed on\n{script}{stderr}"
    );
}

/// Like [`ip`], but leaves judging the result to the caller; cleanup uses it, as it must
/// not panic.
pub(super) fn ip_output(args: &[&str], script: &str) -> io::Result<Output> {
    let mut child = Command::new("ip")
        .args(args)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Dropping stdin at the end of the statement closes it, ending the batch.
    child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(script.as_bytes()))
        .transpose()?;
    child.wait_with_output()
}

pub(super) fn keygen(path: &Path, comment: &str) {
    let args = ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"];
    run(Command::new("ssh-keygen").args(args).arg(path));
}

/// Runs a command on the machine; fails the test, with its stderr, if it fails.
pub(super) fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output();
    let out = out.unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {stderr}",
        out.status
    );
    out
}

pub(super) fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub(super) fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

pub(super) fn set_mode(path: &Path, mode: u32) {
    let perms = fs::Permissions::from_mode(mode);
    fs::set_permissions(path, perms).unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}
