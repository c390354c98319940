//! Arguments of built-in tasks (`deploy:ref=v2,resume=yes`): only known
//! keys, values checked, a positional value fills the first key.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::Error;
use crate::plan::TaskCall;
use crate::suggest;

pub(crate) struct Args<'a> {
    task: &'a str,
    values: BTreeMap<String, String>,
}

impl<'a> Args<'a> {
    pub(crate) fn bind(call: &'a TaskCall, keys: &[&str]) -> Result<Self, Error> {
        let mut values = BTreeMap::new();
        for (key, value) in &call.args {
            let key = match key {
                Some(key) if keys.contains(&key.as_str()) => key.clone(),
                Some(key) => {
                    return Err(Error::usage(
                        format!("`{}` has no argument `{key}`", call.name),
                        suggest::hint(key, keys.iter().copied())
                            .or_else(|| Some(usage(call, keys))),
                    ));
                }
                None if values.is_empty() && !keys.is_empty() => keys[0].to_string(),
                None => {
                    return Err(Error::usage(
                        format!("`{}`: write arguments as key=value", call.name),
                        Some(usage(call, keys)),
                    ));
                }
            };
            values.insert(key, value.clone());
        }
        Ok(Self {
            task: &call.name,
            values,
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `yes`/`true`/`1` or `no`/`false`/`0`; absent is no.
    pub(crate) fn flag(&self, key: &str) -> Result<bool, Error> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None | Some("no" | "false" | "0") => Ok(false),
            Some("yes" | "true" | "1") => Ok(true),
            Some(other) => Err(Error::usage(
                format!("{}:{key}={other}: expected yes or no", self.task),
                None,
            )),
        }
    }

    pub(crate) fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)
            .map(|text| {
                text.parse().map_err(|_| {
                    Error::usage(
                        format!("{}:{key}={text}: expected a whole number", self.task),
                        None,
                    )
                })
            })
            .transpose()
    }
}

fn usage(call: &TaskCall, keys: &[&str]) -> String {
    if keys.is_empty() {
        format!("`{}` takes no arguments", call.name)
    } else {
        format!(
            "usage: ferry <env> {}:{}",
            call.name,
            keys.iter()
                .map(|k| format!("{k}=…"))
                .collect::<Vec<_>>()
                .join(",")
        )
    }
}
