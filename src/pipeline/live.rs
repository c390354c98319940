//! The release an environment runs, as every one of its hosts reports it:
//! one id, one artifact digest, recorded `deployed` — or why not, naming
//! the hosts. Promotion starts from it; functional tests and tags use it.

use std::collections::BTreeMap;

use super::Stage;
use crate::release::{self, ReleaseRecord, State};

/// What a finished deploy left live, as every host agrees.
pub(crate) struct Deployed {
    pub(crate) release: String,
    pub(crate) records: BTreeMap<String, ReleaseRecord>,
}

impl Deployed {
    pub(crate) fn record(&self) -> &ReleaseRecord {
        self.records.values().next().expect("at least one host")
    }
}

/// The release live on every host of `stage`: one id, one artifact, deployed.
/// Otherwise why not, naming the hosts.
pub(crate) async fn agreed_live(stage: &Stage<'_>, task: &str) -> Result<Deployed, String> {
    let env = stage.name();
    let hosts = stage.hosts();
    let task = format!("{env}/{task}");
    let Some(lives) = release::live(stage.fanout, &task, &hosts, &stage.layout()).await else {
        return Err(format!("cannot read the live release of every {env} host"));
    };
    let mut by_release: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    let mut records = BTreeMap::new();
    for (host, live) in &lives {
        let (Some(id), Some(record)) = (&live.release, &live.record) else {
            return Err(format!("{host} ({env}) has no live release"));
        };
        if record.state != State::Deployed {
            return Err(format!(
                "release {id} on {host} ({env}) is {}, not deployed",
                serde_json::to_string(&record.state)
                    .unwrap_or_default()
                    .trim_matches('"')
            ));
        }
        by_release
            .entry((id.clone(), record.origin.digest.clone()))
            .or_default()
            .push(host);
        records.insert(host.clone(), record.clone());
    }
    match by_release.len() {
        0 => Err(format!("{env} has no hosts")),
        1 => Ok(Deployed {
            release: by_release.into_keys().next().expect("one").0,
            records,
        }),
        _ => {
            let groups: Vec<String> = by_release
                .iter()
                .map(|((id, digest), hosts)| {
                    format!(
                        "{} on {id} ({})",
                        hosts.join(", "),
                        &digest[..digest.len().min(12)]
                    )
                })
                .collect();
            Err(format!(
                "the {env} hosts disagree on their live release: {}",
                groups.join("; ")
            ))
        }
    }
}
