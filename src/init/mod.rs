//! `ferry init`: a commented starter ferry.toml in the working directory,
//! shaped by what the project is. `manage.py` makes a Django starter (its
//! WSGI module found beside a `wsgi.py`), `requirements.txt` or
//! `pyproject.toml` a Python one (waitress when the requirements name it,
//! else gunicorn), a `Dockerfile` a container one, a `Gemfile` a Ruby one
//! (Rails when `config/application.rb` is there); anything else gets the
//! generic starter. Each has `[deploy]`, services and `[provision]`.

use std::io::Write;
use std::path::Path;

use crate::config::FILE_NAME;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::ui;
use crate::usage::UsageError;

const HEADER: &str = include_str!("header.toml");
const GENERIC: &str = include_str!("generic.toml");
const DJANGO: &str = include_str!("django.toml");
const PYTHON: &str = include_str!("python.toml");
const DOCKER: &str = include_str!("docker.toml");
const RUBY: &str = include_str!("ruby.toml");

/// What kind of app a directory holds, and the files that said so.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Django { wsgi: String },
    Python { waitress: bool },
    Docker,
    Ruby { rails: bool },
    Generic,
}

/// The starter for `dir`, and a few words on why that one.
fn starter(dir: &Path) -> (String, String) {
    let has = |name: &str| dir.join(name).exists();
    let requirements = std::fs::read_to_string(dir.join("requirements.txt"))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let python_files: Vec<&str> = ["requirements.txt", "pyproject.toml"]
        .into_iter()
        .filter(|f| has(f))
        .collect();
    let install = if has("requirements.txt") || !has("pyproject.toml") {
        "-r requirements.txt"
    } else {
        "."
    };
    let (kind, why) = if has("manage.py") {
        let why = std::iter::once("manage.py").chain(python_files.iter().copied());
        (
            Kind::Django {
                wsgi: wsgi_module(dir).unwrap_or_else(|| format!("{}.wsgi", app_name(dir))),
            },
            why.collect::<Vec<_>>().join(", "),
        )
    } else if !python_files.is_empty() {
        (
            Kind::Python {
                waitress: requirements.contains("waitress"),
            },
            python_files.join(", "),
        )
    } else if has("Dockerfile") {
        (Kind::Docker, "Dockerfile".into())
    } else if has("Gemfile") {
        let rails = has("config/application.rb");
        let why = if rails {
            "Gemfile, config/application.rb"
        } else {
            "Gemfile"
        };
        (Kind::Ruby { rails }, why.into())
    } else {
        (Kind::Generic, String::new())
    };
    (
        render(&kind, &app_name(dir), install, &why),
        describe(&kind, &why),
    )
}

fn render(kind: &Kind, app: &str, install: &str, why: &str) -> String {
    let body = match kind {
        Kind::Django { wsgi } => DJANGO.replace("{wsgi}", wsgi),
        Kind::Python { waitress: true } => PYTHON
            .replace("{server}", "waitress")
            .replace(
                "{command}",
                "waitress-serve --listen 127.0.0.1:8000 app:application",
            ),
        Kind::Python { waitress: false } => PYTHON
            .replace("{server}", "gunicorn")
            .replace("{command}", "gunicorn --bind 127.0.0.1:8000 app:application"),
        Kind::Docker => DOCKER.to_string(),
        Kind::Ruby { rails } => RUBY
            .replace(
                "{rails_build}",
                if *rails {
                    "\n    \"RAILS_ENV=production bin/rails assets:precompile\","
                } else {
                    ""
                },
            )
            .replace(
                "{rails_migrate}",
                if *rails {
                    "\nmigrate = [\"RAILS_ENV=production bin/rails db:migrate\"]\nmigrate_role = \"db\""
                } else {
                    ""
                },
            ),
        Kind::Generic => GENERIC.to_string(),
    };
    let text = format!("{HEADER}{body}");
    text.replace("{app}", app)
        .replace("{install}", install)
        .replace("{why}", why)
}

fn describe(kind: &Kind, why: &str) -> String {
    let what = match kind {
        Kind::Django { .. } => "a Django app",
        Kind::Python { .. } => "a Python web app",
        Kind::Docker => "a container app",
        Kind::Ruby { rails: true } => "a Rails app",
        Kind::Ruby { rails: false } => "a Ruby app",
        Kind::Generic => return String::new(),
    };
    format!(" for {what} (found {why})")
}

/// `mysite.wsgi` when `mysite/wsgi.py` is there (Django's own layout).
fn wsgi_module(dir: &Path) -> Option<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|entry| entry.path().join("wsgi.py").is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|name| is_identifier(name))
        .collect();
    found.sort();
    found.into_iter().next().map(|m| format!("{m}.wsgi"))
}

fn is_identifier(name: &str) -> bool {
    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| !c.is_ascii_digit())
}

/// The directory's name, made a valid app name (`My App` → `my-app`).
fn app_name(dir: &Path) -> String {
    let name = std::path::absolute(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let cleaned: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let cleaned = cleaned.trim_matches('-');
    match cleaned.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => cleaned.to_string(),
        _ => "myapp".into(),
    }
}

pub(crate) fn write(dir: &Path) -> Result<ExitStatus, Error> {
    let path = dir.join(FILE_NAME);
    let (text, described) = starter(dir);
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(UsageError::AlreadyExists(path).into());
        }
        Err(e) => return Err(Error::io(format!("cannot create {}", path.display()), e)),
    };
    file.write_all(text.as_bytes())
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    ui::out(&format!(
        "wrote {}{described}: edit hosts and tasks, then `ferry staging check`\n",
        path.display()
    ));
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> crate::config::Project {
        let file = crate::diagnostic::SourceFile::new(Path::new("ferry.toml"), text.into());
        crate::config::parse(file).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn every_starter_is_valid_config_with_deploy_services_and_provision() {
        let kinds = [
            Kind::Django {
                wsgi: "mysite.wsgi".into(),
            },
            Kind::Python { waitress: true },
            Kind::Python { waitress: false },
            Kind::Docker,
            Kind::Ruby { rails: true },
            Kind::Ruby { rails: false },
        ];
        for kind in kinds {
            let text = render(&kind, "shop", "-r requirements.txt", "x");
            assert!(
                !text.contains("{app}") && !text.contains("{wsgi}"),
                "{text}"
            );
            let project = parse(&text);
            assert_eq!(project.app, "shop");
            assert!(!project.services.is_empty(), "{kind:?}");
            assert!(project.provision.is_some(), "{kind:?}");
            assert!(text.contains("\n[deploy]\n"), "{kind:?}");
        }
        let generic = parse(&render(&Kind::Generic, "myapp", "", ""));
        assert!(generic.task("manage").is_some());
    }

    #[test]
    fn the_project_decides_the_starter() {
        let dir = tempfile::tempdir().unwrap();
        let (_, said) = starter(dir.path());
        assert_eq!(said, "");
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        assert!(starter(dir.path()).1.contains("container"));
        std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
        let (text, said) = starter(dir.path());
        assert!(
            said.contains("Python web app (found pyproject.toml)"),
            "{said}"
        );
        assert!(text.contains("pip install --quiet ."), "{text}");
        std::fs::write(dir.path().join("manage.py"), "").unwrap();
        std::fs::create_dir(dir.path().join("mysite")).unwrap();
        std::fs::write(dir.path().join("mysite/wsgi.py"), "").unwrap();
        let (text, said) = starter(dir.path());
        assert!(
            said.contains("Django app (found manage.py, pyproject.toml)"),
            "{said}"
        );
        assert!(text.contains("gunicorn --bind 127.0.0.1:8000 mysite.wsgi:application"));
    }

    #[test]
    fn app_names_come_from_the_directory() {
        assert_eq!(app_name(Path::new("/home/ana/My Shop")), "my-shop");
        assert_eq!(app_name(Path::new("/srv/2048")), "myapp");
    }
}
