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

/// dash 0.5.12 drops the first byte of a non-ASCII character that follows
/// the start of a here-document's delimiter at the start of a line
/// (`Eé` in `<<EOF`): its bug, not a quoting one, and it runs nothing.
fn dash_corrupts(value: &str, delimiter: &str) -> bool {
    value.split('\n').any(|line| {
        let ascii = line.find(|c: char| !c.is_ascii()).unwrap_or(line.len());
        ascii > 0 && ascii < line.len() && delimiter.starts_with(&line[..ascii])
    })
}

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
        prop_assume!(!value.lines().any(|l| l == "EOF") && !dash_corrupts(&value, "EOF"));
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

/// Pieces of shell that change how what follows is read.
const PIECES: &[&str] = &[
    "echo ",
    " ",
    "x",
    "\"",
    "'",
    "$(",
    ")",
    "`",
    "${x:-",
    "}",
    "#",
    "\n",
    "\\",
    "$",
    "<<E\n",
    "\nE\n",
    "<<'E'\n",
    "<<-E\n",
    "\n\tE\n",
    "case a in a) ",
    ";; esac ",
    "(",
    "{ ",
    "; }",
    ";",
    "$'",
    "$((",
    "))",
    "((",
    "=",
    "~",
    "$\"",
    "$$",
    "$#",
    "\\\n",
    "<<<",
    "|",
    "&&",
    "<(",
    "!",
    "[[ ",
    " ]]",
    "*",
    "\t",
    "case ",
    " in ",
    "esac",
    ";;",
    "<<",
    "E",
    "-",
    "\\\"",
    "\\'",
    "{{ v }}",
    "{{ v }}",
    "{{ v }}",
    "{{ v }}",
    "$(cat <<E\n",
    "<<\\E\n",
    "<<\"E\"\n",
    "${#x}",
    "E\n",
    "\nE",
    "x=",
    "{{ v }}",
];

/// Values that run `touch canary` in any context that is not quoted right
/// (the second also ends a here-document `E`).
const PAYLOADS: &[&str] = &[
    "a'b\"c;touch canary;$(touch canary)`touch canary`\ntouch canary\n\\",
    "x\nE\ntouch canary\n'\"$(touch canary)",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random shell around values: whatever the lexer accepts, the value
    /// never runs, under dash or bash (most of these are syntax errors;
    /// that is fine, running the payload is not).
    #[test]
    fn no_arrangement_of_shell_around_a_value_runs_it(
        pieces in proptest::collection::vec(proptest::sample::select(PIECES), 1..40),
        payload in proptest::sample::select(PAYLOADS),
    ) {
        let source: String = pieces.concat();
        let Ok(step) = render(&source, Kind::Shell, &values(payload)) else {
            return Ok(());
        };
        let dir = tempfile::tempdir().unwrap();
        for shell in ["dash", "bash"] {
            Command::new(shell)
                .arg("-c")
                .arg(&step)
                .current_dir(dir.path())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            prop_assert!(
                !dir.path().join("canary").exists(),
                "{} ran the value in {:?}:\n{}", shell, source, step
            );
        }
    }
}
