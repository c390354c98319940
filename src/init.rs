//! `ferry init`: a commented starter ferry.toml in the working directory.

use std::io::Write;
use std::path::Path;

use crate::config::FILE_NAME;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::ui;
use crate::usage::UsageError;

pub(crate) const STARTER: &str = include_str!("init.toml");

pub(crate) fn write(dir: &Path) -> Result<ExitStatus, Error> {
    let path = dir.join(FILE_NAME);
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
    file.write_all(STARTER.as_bytes())
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    ui::out(&format!(
        "wrote {}: edit hosts and tasks, then `ferry staging check`\n",
        path.display()
    ));
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_file_is_valid_config() {
        let file = crate::diagnostic::SourceFile::new(Path::new("ferry.toml"), STARTER.into());
        let project = crate::config::parse(file).expect("the starter ferry.toml parses");
        assert!(project.task("manage").is_some());
    }
}
