//! The lexer on small texts (`@` for a slot): contexts, escapes, refusals,
//! and each misreading the fuzz test in `template::tests` once found.

use super::*;

/// `text` with `@` for slots, each filled with `value`.
fn filled(text: &str, value: &str) -> Result<String, SlotError> {
    let mut n = 0;
    let text: String = text
        .chars()
        .map(|c| match c {
            '@' => {
                n += 1;
                slot(n - 1)
            }
            c => c.to_string(),
        })
        .collect();
    fill(&text, |_| value.to_string())
}

fn refused(text: &str) -> Refusal {
    match filled(text, "v").unwrap_err().problem {
        Problem::Refused(refusal) => refusal,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn escapes_for_each_context() {
    let v = "a'b\"c$d`e\\f";
    assert_eq!(filled("echo @", v).unwrap(), r#"echo 'a'\''b"c$d`e\f'"#);
    assert_eq!(
        filled("echo \"<@>\"", v).unwrap(),
        r#"echo "<a'b\"c\$d\`e\\f>""#
    );
    assert_eq!(
        filled("echo '<@>'", v).unwrap(),
        r#"echo '<a'\''b"c$d`e\f>'"#
    );
    assert_eq!(
        filled("cat <<EOF\n@\nEOF\n", v).unwrap(),
        "cat <<EOF\na'b\"c\\$d\\`e\\\\f\nEOF\n"
    );
}

#[test]
fn plain_words_stay_bare_unless_the_shell_would_read_them() {
    assert_eq!(
        filled("cd @/current", "/srv/app").unwrap(),
        "cd /srv/app/current"
    );
    assert_eq!(
        filled("--bind 127.0.0.1:@", "8000").unwrap(),
        "--bind 127.0.0.1:8000"
    );
    assert_eq!(filled("@ x", "if").unwrap(), "'if' x");
    assert_eq!(filled("echo @", "").unwrap(), "echo ''");
    assert_eq!(filled("echo @", "a=b").unwrap(), "echo 'a=b'");
    assert_eq!(filled("echo ~@", "root").unwrap(), "echo ~'root'");
    assert_eq!(filled("echo @", "*").unwrap(), "echo '*'");
}

#[test]
fn contexts_nest() {
    assert_eq!(
        filled("echo \"$(echo @)\"", "x y").unwrap(),
        "echo \"$(echo 'x y')\""
    );
    assert_eq!(
        filled("echo \"$(echo \"@\")\" @", "$").unwrap(),
        "echo \"$(echo \"\\$\")\" '$'"
    );
    assert_eq!(
        filled("x=$(echo (a) @)", "v w").unwrap(),
        "x=$(echo (a) 'v w')"
    );
    assert_eq!(
        filled("\"$(case a in a) :;; esac) @\"", "$").unwrap(),
        "\"$(case a in a) :;; esac) \\$\""
    );
    assert_eq!(
        filled("echo ${x:-y} \"@\"", "$").unwrap(),
        "echo ${x:-y} \"\\$\""
    );
    assert_eq!(
        filled("echo $((1+(2))) @", "v w").unwrap(),
        "echo $((1+(2))) 'v w'"
    );
}

#[test]
fn here_documents_end_at_their_delimiter() {
    // The body starts on the next line and `<<-` strips tabs.
    assert_eq!(
        filled("cat <<-'E' >f; echo @\n\tE\necho @", "v w").unwrap(),
        "cat <<-'E' >f; echo 'v w'\n\tE\necho 'v w'"
    );
    assert_eq!(
        filled("cat <<'E'\nx\nE\necho @", "v w").unwrap(),
        "cat <<'E'\nx\nE\necho 'v w'"
    );
    assert_eq!(
        filled("cat <<E\n@\nE\n", "a\nE\nb").unwrap_err().problem,
        Problem::EndsHereDoc("E".into())
    );
    assert_eq!(
        filled("cat <<-E\n\t@\nE\n", "E").unwrap_err().problem,
        Problem::EndsHereDoc("E".into())
    );
    assert!(filled("cat <<E\nx@\nE\n", "E").is_ok());
}

#[test]
fn unsafe_contexts_are_refused() {
    assert_eq!(refused("echo `echo @`"), Refusal::Backquote);
    assert_eq!(refused("echo \"`@`\""), Refusal::Backquote);
    assert_eq!(refused("echo hi # @"), Refusal::Comment);
    assert_eq!(refused("echo ${x:-@}"), Refusal::Parameter);
    assert_eq!(refused("echo \"${x:-$(echo @)}\""), Refusal::Parameter);
    assert_eq!(refused("echo $((@ + 1))"), Refusal::Arithmetic);
    assert_eq!(refused("((@ > 1))"), Refusal::Arithmetic);
    assert_eq!(refused("echo $'@'"), Refusal::AnsiC);
    assert_eq!(refused("cat <<@\nx\n"), Refusal::HereDocDelimiter);
    assert_eq!(refused("cat <<'E'\n@\nE\n"), Refusal::QuotedHereDoc);
    assert_eq!(refused("echo \\@"), Refusal::AfterBackslash);
    assert_eq!(refused("echo \"\\@\""), Refusal::AfterBackslash);
    assert_eq!(refused("echo $@"), Refusal::AfterDollar);
    assert_eq!(refused("echo \"$@\""), Refusal::AfterDollar);
}

/// Found by the fuzz test in template::tests: each was once a way to run a value.
#[test]
fn what_the_fuzz_test_found() {
    // `$$` is the pid: the `(` after it opens nothing.
    assert_eq!(
        filled("cat <<E\n$$(@\nE\n", "$(x)").unwrap(),
        "cat <<E\n$$(\\$(x)\nE\n"
    );
    // A line continuation leaves the next `#` at the start of a word.
    assert_eq!(refused("[[ \\\n#@"), Refusal::Comment);
    // Quotes inside `((…))` (dash reads it as two subshells).
    assert_eq!(refused("((\")) @ ))"), Refusal::Arithmetic);
    // dash has no `$'…'`; an escaped quote in a "…" delimiter.
    assert_eq!(refused("echo $'x' @"), Refusal::Unfollowed);
    assert_eq!(refused("cat <<$\"\\\"x a) @"), Refusal::Unfollowed);
    // The shells join a line continuation before they look for the delimiter.
    assert_eq!(
        filled("cat <<-E\n\\\n\tE\n#@", "v").unwrap_err().problem,
        Problem::Refused(Refusal::Comment)
    );
    // A here-document's line ends it even inside a `$(…)` it holds.
    assert_eq!(
        filled("cat <<-E\n$(echo @)\nE\n", "x\nE\ntouch canary")
            .unwrap_err()
            .problem,
        Problem::EndsHereDoc("E".into())
    );
}

#[test]
fn what_only_looks_unsafe_is_not() {
    assert!(filled("echo a#b @", "v").is_ok());
    assert!(filled("echo '#' '`' @", "v").is_ok());
    assert!(filled("echo \\` \\$@", "v").is_ok());
    assert!(filled("echo '$@'", "v").is_ok());
    assert!(filled("echo x # `\necho @", "v").is_ok());
    assert!(filled("echo \"@@\"", "$").is_ok());
    assert!(filled("cat <<<@", "v").is_ok());
}
