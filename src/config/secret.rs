//! Reading a secret a fleet file refers to (`{ env = "…" }` or `{ file = "…" }`). This is the
//! only place in `config` that reads the environment or secret files, and it is called only when
//! a secret is needed (creating a server), never while parsing. Secrets come back redacted.

use super::model::SecretRef;
use crate::secret::Redacted;
use std::path::{Path, PathBuf};

/// Why a secret could not be read. Never holds the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the environment variable {name} is not set")]
    EnvMissing { name: String },
    #[error("the environment variable {name} is not valid Unicode")]
    EnvNotUnicode { name: String },
    #[error("cannot read the secret file {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret from {origin} is empty")]
    Empty { origin: String },
}

impl SecretRef {
    /// Reads the secret: the environment variable's value, or the file's contents without its
    /// trailing newline. A relative file path is relative to `fleet_dir`, the directory of the
    /// fleet file.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when the variable is unset or not Unicode, the file cannot be read or is
    /// not UTF-8, or the secret is empty.
    pub fn resolve(&self, fleet_dir: &Path) -> Result<Redacted<String>, SecretError> {
        let (value, origin) = match self {
            SecretRef::Env(name) => {
                let value = std::env::var(name).map_err(|error| match error {
                    std::env::VarError::NotPresent => SecretError::EnvMissing { name: name.clone() },
                    std::env::VarError::NotUnicode(_) => SecretError::EnvNotUnicode { name: name.clone() },
                })?;
                (value, format!("environment variable {name}"))
            }
            SecretRef::File(path) => {
                let full = fleet_dir.join(path);
                let mut value = std::fs::read_to_string(&full)
                    .map_err(|source| SecretError::File { path: full.clone(), source })?;
                if value.ends_with('\n') {
                    value.pop();
                    if value.ends_with('\r') {
                        value.pop();
                    }
                }
                (value, format!("file {}", full.display()))
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty { origin });
        }
        Ok(Redacted::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secrets_are_relative_to_the_fleet_file_and_lose_the_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin.password"), "s3cret-Pass\r\n").unwrap();
        let secret = SecretRef::File("admin.password".into()).resolve(dir.path()).unwrap();
        assert_eq!(secret.expose(), "s3cret-Pass");
        assert_eq!(format!("{secret:?}"), "****");
    }

    #[test]
    fn missing_and_empty_secrets_are_errors_that_never_show_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let missing = SecretRef::File("nope".into()).resolve(dir.path()).unwrap_err();
        assert!(matches!(missing, SecretError::File { .. }), "{missing}");
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let empty = SecretRef::File("empty".into()).resolve(dir.path()).unwrap_err();
        assert!(empty.to_string().contains("is empty"), "{empty}");
        let unset =
            SecretRef::Env("PGFLEET_TEST_SURELY_UNSET_VARIABLE".into()).resolve(dir.path()).unwrap_err();
        assert_eq!(
            unset.to_string(),
            "the environment variable PGFLEET_TEST_SURELY_UNSET_VARIABLE is not set"
        );
    }
}
