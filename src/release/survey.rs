//! The first round trip of every release task: one script that looks at the
//! layout on a host — where `current` points, every release and its
//! release.json, the lock, an unfinished deploy, the digest of the live
//! release's manifest (and the manifest, when ferry does not know it:
//! `known`) — and, for tasks that change things, takes the lock in the same
//! breath.

use std::collections::BTreeMap;

use super::record::{LockInfo, Pending, ReleaseRecord};
use super::{Layout, known};
use crate::protocol::{LockReport, Marker};
use crate::shell::{Script, Word};

/// Exit code of a survey that found the lock taken: a refusal, not a failure.
pub(crate) const LOCKED: i32 = 75;

pub(crate) struct Options<'a> {
    /// Take the deploy lock with this record.
    pub(crate) lock: Option<&'a LockInfo>,
    /// Whose stale lock this run may take over.
    pub(crate) takeover: Takeover,
    /// Report the live release's manifest (deploys diff against it).
    pub(crate) sums: bool,
}

/// A stale lock left by a deploy that is pending on the host (or that
/// finished but for its lock) can be taken over by the runs that deal with
/// that deploy; every other run is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Takeover {
    No,
    /// Rollback: the way back from a cut deploy.
    Stale,
    /// `deploy:resume=yes`: also waits (up to a minute) for the keeper of
    /// its own earlier run to notice that run is gone.
    Resume,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lock {
    Free,
    Taken,
    /// Held by a deploy whose keeper is alive.
    Held(Option<LockInfo>),
    /// Left by a deploy that is gone.
    Stale(Option<LockInfo>),
}

#[derive(Debug, Clone)]
pub(crate) struct Survey {
    pub(crate) current: Option<String>,
    /// Every release, with its record when it has a readable one.
    pub(crate) releases: BTreeMap<String, Option<ReleaseRecord>>,
    pub(crate) lock: Lock,
    pub(crate) pending: Option<Pending>,
    /// Path → (sha256, mode) of the live release's files, from its manifest
    /// (empty for a release made before the store: every file is sent).
    pub(crate) files: std::sync::Arc<known::Files>,
    pub(crate) missing_tools: Vec<String>,
    pub(crate) error: Option<String>,
    /// The release whose deploy left the stale lock this survey took over.
    pub(crate) took_over: Option<String>,
}

impl Survey {
    pub(crate) fn record(&self, id: &str) -> Option<&ReleaseRecord> {
        self.releases.get(id).and_then(Option::as_ref)
    }

    pub(crate) fn newest(&self) -> Option<&str> {
        self.releases.keys().next_back().map(String::as_str)
    }
}

pub(crate) fn script(layout: &Layout, options: &Options<'_>) -> String {
    builder(layout, options).build()
}

/// The survey as a script a caller may add its own reports to.
pub(crate) fn builder(layout: &Layout, options: &Options<'_>) -> Script {
    let mut script = layout.script();
    script.code("ferry_report_tools");
    match options.lock {
        Some(info) => {
            let info = serde_json::to_string(info).expect("serializable");
            script.code("ferry_prepare").call(
                "ferry_lock",
                [
                    Word::lit(&info),
                    Word::lit(match options.takeover {
                        Takeover::No => "",
                        Takeover::Stale => "stale",
                        Takeover::Resume => "resume",
                    }),
                ],
            );
        }
        None => {
            script.code("ferry_lock_state || :");
        }
    }
    script.code("ferry_listing");
    if options.sums {
        script.call("ferry_live", [Word::lit(&known::prefixes().join(" "))]);
    }
    script
}

pub(crate) fn parse(markers: &[Marker]) -> Survey {
    let mut survey = Survey {
        current: None,
        releases: BTreeMap::new(),
        lock: Lock::Free,
        pending: None,
        files: Default::default(),
        missing_tools: Vec::new(),
        error: None,
        took_over: None,
    };
    let (mut live, mut sent) = (None, None);
    for marker in markers {
        match marker {
            Marker::Current(id) => survey.current = Some(id.clone()),
            Marker::Release { id, record } => {
                survey
                    .releases
                    .insert(id.clone(), serde_json::from_str(record).ok());
            }
            Marker::Lock(report) => survey.lock = lock(report),
            Marker::TookOver(release) => survey.took_over = Some(release.clone()),
            Marker::Pending(json) => survey.pending = serde_json::from_str(json).ok(),
            Marker::Missing(tools) => survey.missing_tools = tools.clone(),
            Marker::Error(text) => survey.error = Some(text.clone()),
            Marker::Live(digest) => live = Some(digest.clone()),
            Marker::LiveManifest(gzipped) => sent = Some(gzipped),
            _ => {}
        }
    }
    if let Some(digest) = live {
        let text = sent.and_then(|gzipped| gunzip(gzipped));
        if let Some(files) = known::live(&digest, text) {
            survey.files = files;
        }
    }
    survey
}

fn gunzip(bytes: &[u8]) -> Option<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text).ok()?;
    Some(text)
}

fn lock(report: &LockReport) -> Lock {
    let info = |text: &str| serde_json::from_str(text).ok();
    match report {
        LockReport::Free => Lock::Free,
        LockReport::Taken => Lock::Taken,
        LockReport::Held(text) => Lock::Held(info(text)),
        LockReport::Stale(text) => Lock::Stale(info(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_script_reports() {
        let markers = [
            Marker::Current("20261122T010000Z".into()),
            Marker::Release {
                id: "20261122T010000Z".into(),
                record: r#"{"id":"20261122T010000Z","ref":"main","digest":"d","who":"a@b","at":"t","state":"deployed"}"#.into(),
            },
            Marker::Release {
                id: "20261121T010000Z".into(),
                record: String::new(),
            },
            Marker::Lock(LockReport::Taken),
        ];
        let survey = parse(&markers);
        assert_eq!(survey.current.as_deref(), Some("20261122T010000Z"));
        assert_eq!(survey.releases.len(), 2);
        assert!(survey.record("20261121T010000Z").is_none());
        assert_eq!(survey.lock, Lock::Taken);
        assert!(survey.files.is_empty(), "no live manifest: every file goes");
    }

    #[test]
    fn a_manifest_sent_back_is_checked_against_its_digest() {
        use std::io::Write as _;
        let text = "f\t0755\tabc\t3\tapp.py\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let digest = super::super::manifest::sha256(text.as_bytes());
        let survey = parse(&[Marker::Live(digest), Marker::LiveManifest(gz.clone())]);
        assert_eq!(survey.files["app.py"], ("abc".to_string(), 0o755));
        let survey = parse(&[Marker::Live("0".repeat(64)), Marker::LiveManifest(gz)]);
        assert!(
            survey.files.is_empty(),
            "a manifest that is not the digest's is not used"
        );
    }
}
