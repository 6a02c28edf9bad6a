//! `errored.state.json`: where a state goes when its backend cannot be written at the end of an
//! apply (the network failed, the lease was lost), as Terraform keeps `errored.tfstate`; and
//! reading such a file back for `pgfleet state push`. Nothing is lost: the file holds every
//! record the apply made, whether or not the backend got it.

use super::atomic::replace_file;
use super::store::parse_state;
use super::{State, StateError};
use std::path::{Path, PathBuf};

/// The file's name, in the working directory.
pub const ERRORED_STATE_FILE: &str = "errored.state.json";

/// Writes `state` to `dir/errored.state.json` (atomically, readable by its owner only) and
/// returns its path. A file already there is replaced only when it is an earlier version of the
/// same state (same lineage, serial not above this one's); any other is kept, and this state
/// goes to `errored-SERIAL-LINEAGE.state.json` beside it.
///
/// # Errors
/// [`StateError::Io`] when the file cannot be written.
pub fn save_errored(dir: &Path, state: &State) -> Result<PathBuf, StateError> {
    let first = dir.join(ERRORED_STATE_FILE);
    let replaceable = match read_state_file(&first) {
        Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => true,
        Ok(existing) => existing.lineage == state.lineage && existing.serial <= state.serial,
        Err(_) => false,
    };
    let path = if replaceable {
        first
    } else {
        let lineage = state.lineage.simple().to_string();
        dir.join(format!("errored-{}-{}.state.json", state.serial, &lineage[..8]))
    };
    let mut bytes = serde_json::to_vec_pretty(state)
        .map_err(|source| StateError::Serialize { state: path.display().to_string(), source })?;
    bytes.push(b'\n');
    replace_file(&path, &bytes, false)?;
    restrict(&path)?;
    Ok(path)
}

/// Reads a lone state file (an `errored.state.json`, a state pulled earlier).
///
/// # Errors
/// [`StateError::Io`] when it cannot be read; [`StateError::Corrupt`] or
/// [`StateError::NewerFormat`] when it is not a state this pgfleet reads.
pub fn read_state_file(path: &Path) -> Result<State, StateError> {
    let bytes = std::fs::read(path).map_err(|e| StateError::io("read the state file", path, e))?;
    parse_state(&format!("file {}", path.display()), &format!("a copy of {}", path.display()), &bytes)
}

/// The state records no secret, but it maps a fleet: only its owner reads it.
#[cfg(unix)]
fn restrict(path: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StateError::io("restrict the permissions of", path, e))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> Result<(), StateError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_errored_state_is_replaced_and_another_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::new("payments");
        state.serial = 3;
        let path = save_errored(dir.path(), &state).unwrap();
        assert_eq!(path, dir.path().join(ERRORED_STATE_FILE));
        state.serial = 4;
        assert_eq!(save_errored(dir.path(), &state).unwrap(), path, "a later serial replaces it");
        assert_eq!(read_state_file(&path).unwrap(), state);

        let other = State::new("payments");
        let kept = save_errored(dir.path(), &other).unwrap();
        assert_ne!(kept, path, "another lineage does not overwrite it");
        assert_eq!(read_state_file(&path).unwrap(), state);
        assert_eq!(read_state_file(&kept).unwrap(), other);
    }
}
