//! Rendered shell templates run by dash and bash: whatever a value holds,
//! and wherever it enters (`[vars]`, `args`, `host.name`), the step sees its
//! literal bytes and nothing of it runs.

use std::path::Path;
use std::process::Command;

use minijinja::Value;
use proptest::prelude::*;

use super::{Kind, context, render};

/// Steps with `X` for the value's expression, and what each writes.
/// What a step writes, given the value.
type Expected = fn(&str) -> String;

const STEPS: &[(&str, Expected)] = &[
    ("printf '%s' {{ X }}", |v| v.into()),
    ("printf '%s' \"<{{ X }}>\"", |v| format!("<{v}>")),
    ("printf '%s' 'a{{ X }}b'", |v| format!("a{v}b")),
    ("printf '%s' \"$(printf '%s.' {{ X }})\"", |v| {
        format!("{v}.")
    }),
    ("printf '%s' \"$(printf '%s.' \"{{ X }}\")\"", |v| {
        format!("{v}.")
    }),
    ("printf '%s' --x={{ X }}", |v| format!("--x={v}")),
    (
        "{% if X is string %}printf '%s' \"{{ X }}\"{% endif %}",
        |v| v.into(),
    ),
    (
        "{% for x in [X, X] %}printf '%s' \"{{ x }}\";{% endfor %}",
        |v| format!("{v}{v}"),
    ),
    ("cat <<EOF\n{{ X }}\nEOF", |v| format!("{v}\n")),
    ("v={{ X }} && printf '%s' \"$v\" ", |v| v.into()),
];

fn values(value: &str) -> Value {
    context([
        ("v", Value::from(value)),
        ("args", context([("a", Value::from(value))])),
        ("host", context([("name", Value::from(value))])),
    ])
}

fn run(shell: &str, script: &str, out: &Path) {
    let status = Command::new(shell)
        .arg("-c")
        .arg(script)
        .current_dir(out)
        .status()
        .unwrap();
    assert!(status.success(), "{shell} failed on:\n{script}");
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\u{0}]{0,16}",
        "[$`'\"\\\\;&|()<>{}#\n\t *?~=!\\[\\]a-z]{0,16}",
        (
            "[^\u{0}]{0,6}",
            "(\\$\\(|`|'|\"|\\\\)touch canary[`'\")]{0,2}[;#]?"
        )
            .prop_map(|(a, b)| format!("{a}{b}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn values_arrive_literally_under_dash_and_bash(value in value()) {
        prop_assume!(!value.lines().any(|l| l == "EOF"));
        let dir = tempfile::tempdir().unwrap();
        let mut script = String::new();
        for (entry, expr) in [("vars", "v"), ("arg", "args.a"), ("host", "host.name")] {
            for (n, (step, _)) in STEPS.iter().enumerate() {
                let body = render(&step.replace('X', expr), Kind::Shell, &values(&value)).unwrap();
                script.push_str(&format!("{{\n{body}\n}} > {entry}.{n}\n"));
            }
        }
        for shell in ["dash", "bash"] {
            run(shell, &script, dir.path());
            prop_assert!(!dir.path().join("canary").exists(), "{} ran {:?}", shell, value);
            for entry in ["vars", "arg", "host"] {
                for (n, (step, expected)) in STEPS.iter().enumerate() {
                    let got = std::fs::read(dir.path().join(format!("{entry}.{n}"))).unwrap();
                    prop_assert_eq!(String::from_utf8(got).unwrap(), expected(&value), "{} {}", shell, step);
                }
            }
        }
    }
}

#[test]
fn a_value_that_would_end_its_here_document_is_refused() {
    let error = render(
        "cat <<EOF\n{{ v }}\nEOF",
        Kind::Shell,
        &values("a\nEOF\nrm -rf /"),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "a line of a value is `EOF`, which would end the here-document it stands in"
    );
}

#[test]
fn a_context_made_by_a_tag_is_refused_when_rendered() {
    // The load-time check reads both branches as taken; the rendered text
    // is what decides.
    let source = "{% if v %}echo `{% endif %}echo {{ v }}{% if v %}`{% endif %}";
    let error = render(source, Kind::Shell, &values("x")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a value stands inside backquotes, where no quoting keeps it literal"
    );
}

#[test]
fn nul_bytes_are_refused() {
    assert!(render("echo \u{0}", Kind::Shell, &values("x")).is_err());
    let error = render("echo {{ v }}", Kind::Shell, &values("a\u{0}b")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a value with a NUL byte cannot be passed to the shell"
    );
}
