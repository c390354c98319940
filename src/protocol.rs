//! The host protocol: how a script ferry sent tells ferry what happened.
//!
//! A script's own output and ferry's reports travel apart. The bootstrap
//! (see `transport::BOOTSTRAP`) gives the script fd 3 for reports and sends
//! everything else it prints, stdout and stderr alike, to the session's
//! stderr, so ferry's channel is the session's stdout and carries nothing but
//! frames. Commands the user wrote run with fd 3 closed (see `shell`), so
//! neither their output nor a file name or value can forge or swallow a
//! report, whatever bytes it holds and whether or not it ends its last line.
//!
//! A frame is `WORD LEN\n` then exactly LEN bytes: its fields, each ended by
//! a NUL (`ferry_say` in `shell/prelude.sh` writes them), or, for the few
//! reports that carry a file (`ferry_say_file`), the file's bytes. The
//! session ends with an `exit` frame holding the script's exit code, so a
//! session that ends without one was cut off. This module owns the frame
//! reader and the one vocabulary of reports, [`Marker`]; nothing else parses
//! what a host sends.

use std::fmt;

/// Longest frame ferry accepts: a survey of a release with 100,000 files
/// stays well under it, and a runaway host cannot exhaust memory.
const MAX_FRAME: usize = 256 << 20;
/// `WORD LEN\n`: a short word and a decimal length.
const MAX_HEADER: usize = 64;

/// One report from a host, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Marker {
    /// The script's exit code, its last word.
    Exit(i32),
    /// What the host is doing now (a step's label), for live progress.
    Activity(String),
    /// A numbered step of the user's commands exited non-zero.
    Failed {
        step: usize,
        code: i32,
    },
    /// A provision handler exited non-zero.
    FailedHandler {
        handler: usize,
        code: i32,
    },
    /// Why the script gave up, in the host's words (`ferry_fail`).
    Error(String),
    /// Tools the release scripts need that the host lacks.
    Missing(Vec<String>),
    /// The deploy lock as the host found it.
    Lock(LockReport),
    /// A stale lock left by an earlier run of the same deploy (the release
    /// it names) was taken over.
    TookOver(String),
    /// Where `current` points.
    Current(String),
    /// A release directory and its release.json (empty when unreadable).
    Release {
        id: String,
        record: String,
    },
    /// The unfinished deploy's record.
    Pending(String),
    /// The digest of the live release's manifest (a release made with the store).
    Live(String),
    /// That manifest, gzipped, when ferry did not know it.
    LiveManifest(Vec<u8>),
    /// The upload made the release, or found it already made.
    Uploaded {
        already: bool,
    },
    /// A directory copied from the live release into the new one.
    Copied(String),
    /// `current` pointed here before the switch.
    Was(String),
    /// `current` points here now.
    Now(String),
    Healthy,
    /// The health check gave up; the last answer it got.
    Unhealthy(String),
    /// A release directory was removed.
    Removed(String),
    /// The survey that took the lock keeps it from here on (see `ferry_keep`).
    Kept,
    /// The keeper removed the lock on a clean release.
    Released,
    /// A script the keeper ran under the lock ended (`ferry_keep`'s `s`):
    /// its exit code and, when it failed, the last lines it printed (its
    /// output has no order against this report, so they come in it).
    Ran {
        code: i32,
        tail: Vec<String>,
    },
    /// `unlock` removed the lock.
    Unlocked,
    /// History lines (JSON), oldest first.
    History(Vec<String>),
    /// A provision resource: its index, `ok`/`changed`/`would`, and why.
    Resource {
        index: usize,
        status: String,
        why: String,
    },
    /// The old content of a provisioned file (`--diff`), or `None` when too large.
    Old {
        index: usize,
        content: Option<Vec<u8>>,
    },
    /// `sudo -n` needs a password.
    Sudo,
    /// A service's status probe: its index, exit code and first line.
    Status {
        index: usize,
        code: i32,
        line: String,
    },
    /// The logs follower is still connected.
    Alive,
    /// The host's container engine holds the image already.
    HasImage,
    /// The names of the app's containers that run on the host.
    Containers(Vec<String>),
    /// What keeps the SSH user from running containers, and what docker said.
    Docker(DockerProblem, String),
    /// The layers of one image the host's engine holds: diff ids, bottom first.
    Layers(Vec<String>),
    /// A release's files as a tar stream (promotion fetches them).
    Archive(Vec<u8>),
}

/// Why a host cannot run containers for the SSH user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DockerProblem {
    /// No `docker` command.
    Cli,
    /// Nothing answers on the engine's socket.
    Engine,
    /// The socket is there, but the user may not use it.
    Access,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LockReport {
    Free,
    Taken,
    /// Held by a live keeper; the holder's record.
    Held(String),
    /// Left by a deploy that is gone; the holder's record.
    Stale(String),
}

/// What is wrong with what came on ferry's channel: a bug in a script, or
/// something on the host writing where only ferry's scripts should.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the host sent a report ferry cannot read: {0}")]
pub(crate) struct ProtocolError(String);

impl ProtocolError {
    fn new(what: impl fmt::Display) -> Self {
        Self(what.to_string())
    }
}

/// Splits the bytes of ferry's channel into frames as they arrive.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    buffer: Vec<u8>,
}

impl Reader {
    /// Take in bytes; return the markers completed by them.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Marker>, ProtocolError> {
        self.buffer.extend_from_slice(bytes);
        let mut markers = Vec::new();
        while let Some((word, body, used)) = self.next_frame()? {
            markers.push(parse(&word, &body)?);
            self.buffer.drain(..used);
        }
        Ok(markers)
    }

    /// At the end of the stream: nothing may be left half-sent.
    pub(crate) fn finish(&self) -> Result<(), ProtocolError> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::new("the channel ended inside a report"))
        }
    }

    fn next_frame(&self) -> Result<Option<(String, Vec<u8>, usize)>, ProtocolError> {
        let Some(end) = self.buffer.iter().position(|&b| b == b'\n') else {
            if self.buffer.len() > MAX_HEADER {
                return Err(ProtocolError::new("a report header is too long"));
            }
            return Ok(None);
        };
        let header = std::str::from_utf8(&self.buffer[..end])
            .map_err(|_| ProtocolError::new("a report header is not text"))?;
        let (word, len) = header
            .split_once(' ')
            .ok_or_else(|| ProtocolError::new(format!("bad header `{}`", header.escape_debug())))?;
        let len: usize = len.trim().parse().map_err(|_| {
            ProtocolError::new(format!("bad length in `{}`", header.escape_debug()))
        })?;
        if len > MAX_FRAME {
            return Err(ProtocolError::new(format!(
                "a {word} report of {len} bytes"
            )));
        }
        let start = end + 1;
        if self.buffer.len() < start + len {
            return Ok(None);
        }
        let body = self.buffer[start..start + len].to_vec();
        Ok(Some((word.to_string(), body, start + len)))
    }
}

/// NUL-ended fields of a frame.
fn fields(body: &[u8]) -> Vec<String> {
    let body = body.strip_suffix(b"\0").unwrap_or(body);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fn number<T: std::str::FromStr>(word: &str, text: &str) -> Result<T, ProtocolError> {
    text.trim().parse().map_err(|_| {
        ProtocolError::new(format!("{word}: `{}` is not a number", text.escape_debug()))
    })
}

/// The one parser of reports: a frame's word and body to a `Marker`.
fn parse(word: &str, body: &[u8]) -> Result<Marker, ProtocolError> {
    let f = fields(body);
    let field = |i: usize| -> Result<&str, ProtocolError> {
        f.get(i)
            .map(String::as_str)
            .ok_or_else(|| ProtocolError::new(format!("{word}: field {} is missing", i + 1)))
    };
    let text = || f.join(" ");
    Ok(match word {
        "exit" => Marker::Exit(number(word, field(0)?)?),
        "activity" => Marker::Activity(text()),
        "failed" => Marker::Failed {
            step: number(word, field(0)?)?,
            code: number(word, field(1)?)?,
        },
        "failed-handler" => Marker::FailedHandler {
            handler: number(word, field(0)?)?,
            code: number(word, field(1)?)?,
        },
        "error" => Marker::Error(text()),
        "missing" => Marker::Missing(text().split_whitespace().map(str::to_string).collect()),
        "lock" => Marker::Lock(match field(0)? {
            "free" => LockReport::Free,
            "taken" => LockReport::Taken,
            "held" => LockReport::Held(f.get(1).cloned().unwrap_or_default()),
            "stale" => LockReport::Stale(f.get(1).cloned().unwrap_or_default()),
            other => return Err(ProtocolError::new(format!("lock `{other}`"))),
        }),
        "took-over" => Marker::TookOver(field(0)?.to_string()),
        "current" => Marker::Current(field(0)?.to_string()),
        "release" => Marker::Release {
            id: field(0)?.to_string(),
            record: f.get(1).cloned().unwrap_or_default(),
        },
        "pending" => Marker::Pending(field(0)?.to_string()),
        "live" => Marker::Live(field(0)?.to_string()),
        "uploaded" => Marker::Uploaded {
            already: f.first().is_some_and(|w| w == "already"),
        },
        "copied" => Marker::Copied(field(0)?.to_string()),
        "was" => Marker::Was(field(0)?.to_string()),
        "now" => Marker::Now(field(0)?.to_string()),
        "healthy" => Marker::Healthy,
        "has-image" => Marker::HasImage,
        "containers" => Marker::Containers(f),
        "docker" => Marker::Docker(
            match field(0)? {
                "cli" => DockerProblem::Cli,
                "engine" => DockerProblem::Engine,
                "access" => DockerProblem::Access,
                other => return Err(ProtocolError::new(format!("docker `{other}`"))),
            },
            f.get(1).cloned().unwrap_or_default(),
        ),
        "layers" => Marker::Layers(f),
        "unhealthy" => Marker::Unhealthy(text()),
        "removed" => Marker::Removed(field(0)?.to_string()),
        "kept" => Marker::Kept,
        "released" => Marker::Released,
        "ran" => Marker::Ran {
            code: number(word, field(0)?)?,
            tail: f
                .get(1)
                .map_or_else(Vec::new, |t| t.lines().map(str::to_string).collect()),
        },
        "unlocked" => Marker::Unlocked,
        "history" => Marker::History(
            text()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect(),
        ),
        "resource" => Marker::Resource {
            index: number(word, field(0)?)?,
            status: field(1)?.to_string(),
            why: f.get(2).cloned().unwrap_or_default(),
        },
        "old" => Marker::Old {
            index: number(word, field(0)?)?,
            content: None,
        },
        "old-content" => {
            let (index, content) = body
                .iter()
                .position(|&b| b == 0)
                .map(|nul| (&body[..nul], &body[nul + 1..]))
                .ok_or_else(|| ProtocolError::new("old-content: no index"))?;
            Marker::Old {
                index: number(word, &String::from_utf8_lossy(index))?,
                content: Some(content.to_vec()),
            }
        }
        "sudo" => Marker::Sudo,
        "status" => Marker::Status {
            index: number(word, field(0)?)?,
            code: number(word, field(1)?)?,
            line: f.get(2).cloned().unwrap_or_default(),
        },
        "alive" => Marker::Alive,
        "archive" => Marker::Archive(body.to_vec()),
        "live-manifest" => Marker::LiveManifest(body.to_vec()),
        other => return Err(ProtocolError::new(format!("unknown report `{other}`"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(word: &str, fields: &[&[u8]]) -> Vec<u8> {
        let body: Vec<u8> = fields
            .iter()
            .flat_map(|f| f.iter().copied().chain([0]))
            .collect();
        let mut out = format!("{word} {}\n", body.len()).into_bytes();
        out.extend(body);
        out
    }

    #[test]
    fn frames_survive_any_bytes_and_any_split() {
        let hostile: &[u8] = b"a\nb\n1 2\nferry:failed 1 1\0\x1e";
        let mut stream = frame("error", &[hostile]);
        stream.extend(frame("failed", &[b"2", b"127"]));
        stream.extend(frame("exit", &[b"127"]));
        for split in 0..stream.len() {
            let mut reader = Reader::default();
            let mut markers = reader.feed(&stream[..split]).unwrap();
            markers.extend(reader.feed(&stream[split..]).unwrap());
            reader.finish().unwrap();
            assert_eq!(
                markers,
                [
                    Marker::Error("a\nb\n1 2\nferry:failed 1 1 \u{1e}".into()),
                    Marker::Failed { step: 2, code: 127 },
                    Marker::Exit(127),
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn garbage_on_the_channel_is_an_error_not_a_report() {
        let mut reader = Reader::default();
        assert!(reader.feed(b"hello world\n").is_err());
        let mut reader = Reader::default();
        assert!(reader.feed(&[b'x'; 100]).is_err());
        let mut reader = Reader::default();
        reader.feed(b"exit 4\n0").unwrap();
        assert!(reader.finish().is_err(), "a cut frame is noticed");
    }

    #[test]
    fn a_gzipped_manifest_keeps_every_byte() {
        let mut reader = Reader::default();
        let body: &[u8] = b"\x1f\x8b\0\n\0 '\";$(x)";
        let mut frame = format!("live-manifest {}\n", body.len()).into_bytes();
        frame.extend_from_slice(body);
        let markers = reader.feed(&frame).unwrap();
        assert_eq!(markers, [Marker::LiveManifest(body.to_vec())]);
    }
}
