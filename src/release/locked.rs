//! A run under the deploy lock: the survey that takes the lock on every
//! host and stays on as its keeper (one session), and its release at the
//! end — on success, on failure and on Ctrl-C alike. If any host refuses the
//! lock, the hosts that took it let go again and nothing else happens.

use std::collections::BTreeMap;

use super::keeper::{self, Keepers};
use super::record::LockInfo;
use super::survey::{self, Lock, Survey, Takeover};
use super::{Layout, now, who};
use crate::event::Status;
use crate::fanout::{Fanout, Gate, Outcome};
use crate::inventory::Host;
use crate::transport::Request;

pub(crate) struct Locked<'h> {
    pub(crate) hosts: Vec<&'h Host>,
    pub(crate) surveys: BTreeMap<String, Survey>,
    keepers: Keepers,
}

impl<'h> Locked<'h> {
    /// Survey and lock every host; `None` (with every host's reason
    /// recorded) unless all of them are locked. `ahead` are the calls of the
    /// scripts the run will send the keepers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn take(
        fanout: &Fanout,
        task: &str,
        hosts: &[&'h Host],
        layout: &Layout,
        env: &str,
        what: &str,
        takeover: Takeover,
        sums: bool,
        ahead: &[&'static str],
    ) -> Option<Locked<'h>> {
        let info = LockInfo {
            who: who(),
            pid: std::process::id(),
            since: now(),
            what: what.to_string(),
            release: String::new(),
        };
        let mut script = survey::builder(
            layout,
            &survey::Options {
                lock: Some(&info),
                takeover,
                sums,
            },
        );
        // The keepers will run the run's scripts in their own shell: the
        // functions those call go once, now.
        script.ahead(ahead);
        keeper::keep(&mut script, fanout.pool.options().keepalive);
        let opening = &keeper::Opening::new(script.build());
        let done = fanout
            .collect(
                &format!("{task}/lock"),
                hosts,
                Gate::Policy,
                |host| async move {
                    let (ran, keeper) = keeper::survey(fanout, host, opening).await;
                    let (outcome, survey) = survey_outcome(ran, env);
                    (outcome, (survey, keeper))
                },
            )
            .await;
        let all_ok = done.iter().all(|d| d.status == Status::Ok);
        let mut keepers = BTreeMap::new();
        let mut surveys = BTreeMap::new();
        let mut taken = Vec::new();
        for d in done {
            let Some((survey, keeper)) = d.data else {
                continue;
            };
            if survey.lock == Lock::Taken {
                taken.push(d.host);
            }
            keepers.extend(keeper.map(|k| (d.host.label.clone(), k)));
            surveys.insert(d.host.label.clone(), survey);
        }
        let locked = Locked {
            hosts: taken,
            surveys,
            keepers: Keepers::new(keepers),
        };
        if all_ok && locked.hosts.len() == hosts.len() {
            Some(locked)
        } else {
            locked.release(fanout).await;
            None
        }
    }

    /// Run `request` on `host` under its lock, in the keeper's session,
    /// which goes on holding it: no session of its own.
    pub(crate) async fn run(
        &self,
        fanout: &Fanout,
        host: &Host,
        request: Request,
    ) -> crate::fanout::Ran {
        self.through_keeper(fanout, host, request, false).await
    }

    /// Run `script` on `host` as the last thing under its lock, in the
    /// keeper's session, which lets go of the lock right after it.
    pub(crate) async fn last(
        &self,
        fanout: &Fanout,
        host: &Host,
        script: &str,
    ) -> crate::fanout::Ran {
        let request = Request::script(script.to_string());
        self.through_keeper(fanout, host, request, true).await
    }

    /// `request` through `host`'s keeper (as its `last` script, which lets
    /// go of the lock); a host without a keeper runs it in a session of
    /// its own.
    async fn through_keeper(
        &self,
        fanout: &Fanout,
        host: &Host,
        request: Request,
        last: bool,
    ) -> crate::fanout::Ran {
        if self.keepers.holds(&host.label) {
            // A session of its own shows its script; the keeper's is shown here.
            fanout.show_script(host, &request.script);
        }
        let ran = if last {
            self.keepers.finish(&host.label, &request.script).await
        } else {
            self.keepers.run(&host.label, &request).await
        };
        match ran {
            Some(ran) => ran,
            None => fanout.script(host, request).await,
        }
    }

    /// Let go of every lock; a host where that cannot be confirmed is named.
    pub(crate) async fn release(self, fanout: &Fanout) {
        for host in self.keepers.release().await {
            fanout.events.warn(format!("{host}: the lock could not be released; it will read as stale (`unlock` removes it)"));
        }
    }
}

/// A survey's outcome: ok, or why this host cannot go on.
pub(crate) fn survey_outcome(ran: crate::fanout::Ran, env: &str) -> (Outcome, Survey) {
    let survey = survey::parse(&ran.markers);
    let outcome = match &ran.response {
        Err(_) => ran.outcome(&[], Status::Ok),
        Ok(response) => match (&survey.lock, response.code) {
            (Lock::Held(info), _) => Outcome::failed(format!("locked by {}", describe(info)))
                .hint(Some(format!("wait for that run to finish; if it is gone, `ferry {env} unlock` removes the lock"))),
            (Lock::Stale(info), _) => Outcome::failed(format!("a stale lock: the run of {} is gone", describe(info)))
                .hint(Some(stale_hint(info, env))),
            (_, 0) if !survey.missing_tools.is_empty() => {
                Outcome::failed(format!("missing tools on the host: {}", survey.missing_tools.join(", ")))
            }
            _ => ran.outcome(&[], Status::Ok),
        },
    };
    (outcome, survey)
}

/// What gets past a stale lock: a deploy's is taken over by its resume
/// (which finishes it, refuses a failed one, or just lets go of it);
/// anything else's needs `unlock`.
fn stale_hint(info: &Option<LockInfo>, env: &str) -> String {
    let deploy = info.as_ref().is_some_and(|i| {
        ["deploy", "hotfix", "setup_release"]
            .iter()
            .any(|k| i.what.starts_with(k))
    });
    if deploy {
        format!(
            "`ferry {env} deploy:resume=yes` takes it over and finishes that deploy (`releases` shows where it stopped), or `ferry {env} unlock` removes it"
        )
    } else {
        format!("`ferry {env} unlock` removes it (`releases` shows the hosts' state)")
    }
}

fn describe(info: &Option<LockInfo>) -> String {
    info.as_ref()
        .map_or_else(|| "an unknown holder".into(), LockInfo::describe)
}
