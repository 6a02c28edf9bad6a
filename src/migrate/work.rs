//! A migration's work directory, `migrations/<server>/` under the state directory: the freeze
//! record and the dumps (which hold the roles' SCRAM hashes and every row). The directory is
//! 0700 and every file in it 0600 from the moment it exists; the dumps are removed when the
//! migration ends, fails, is aborted, or is resumed (a resumed migration dumps again).

use super::MigrateError;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The files of a migration's work directory that hold data (dumps), as opposed to the freeze
/// record, which must outlive a crash.
const DUMP_FILES: [&str; 2] = ["globals.sql", ".dump"];

fn io(context: String) -> impl FnOnce(std::io::Error) -> MigrateError {
    move |source| MigrateError::Io { context, source }
}

/// Creates `dir` (and its parents) readable by this user only; tightens an existing one.
///
/// # Errors
/// When the directory cannot be created or its mode set.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), MigrateError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("setting the mode of {}", dir.display())))
}

/// Creates (or empties) `path` as a 0600 file for a tool to write into: the tool truncates it
/// and keeps its mode, so the data is never readable by others, not even for a moment.
///
/// # Errors
/// When the file cannot be created.
pub(crate) fn private_file(path: &Path) -> Result<PathBuf, MigrateError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("creating {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("setting the mode of {}", path.display())))?;
    Ok(path.to_path_buf())
}

/// Replaces `path` with `bytes` durably: a 0600 temporary file, fsynced, renamed over `path`,
/// and the directory fsynced, so a crash leaves the old or the new record, never a mix.
///
/// # Errors
/// When a write, fsync or rename fails.
pub(crate) fn write_record(path: &Path, bytes: &[u8]) -> Result<(), MigrateError> {
    let temporary = path.with_extension("tmp");
    let mut file =
        File::create(private_file(&temporary)?).map_err(io(format!("opening {}", temporary.display())))?;
    file.write_all(bytes).map_err(io(format!("writing {}", temporary.display())))?;
    file.sync_all().map_err(io(format!("fsync {}", temporary.display())))?;
    std::fs::rename(&temporary, path).map_err(io(format!("renaming {}", temporary.display())))?;
    sync_parent(path)
}

/// Removes `path` durably (no error when it is already gone).
///
/// # Errors
/// When the file exists and cannot be removed.
pub(crate) fn remove_record(path: &Path) -> Result<(), MigrateError> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io(format!("removing {}", path.display()))(error)),
    }
}

fn sync_parent(path: &Path) -> Result<(), MigrateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir).and_then(|handle| handle.sync_all()).map_err(io(format!("fsync {}", dir.display())))
}

/// Removes the dumps of `dir` (keeping the freeze record).
///
/// # Errors
/// When the directory cannot be read or a dump removed.
pub(crate) fn remove_dumps(dir: &Path) -> Result<(), MigrateError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io(format!("reading {}", dir.display()))(error)),
    };
    for entry in entries {
        let path = entry.map_err(io(format!("reading {}", dir.display())))?.path();
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        if DUMP_FILES.iter().any(|dump| name == *dump || (dump.starts_with('.') && name.ends_with(dump))) {
            remove_record(&path)?;
        }
    }
    Ok(())
}

/// Removes the whole work directory once the migration is over (its freeze record included).
///
/// # Errors
/// When the directory exists and cannot be removed.
pub(crate) fn remove_dir(dir: &Path) -> Result<(), MigrateError> {
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(io(format!("removing {}", dir.display()))(error))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_files_are_private_and_dumps_go_while_the_freeze_record_stays() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("migrations/pay-main");
        create_private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let dump = private_file(&dir.join("database-70.dump")).unwrap();
        let globals = private_file(&dir.join("globals.sql")).unwrap();
        write_record(&dir.join("freeze.json"), b"{}").unwrap();
        for path in [&dump, &globals, &dir.join("freeze.json")] {
            assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{path:?}");
        }
        remove_dumps(&dir).unwrap();
        assert!(!dump.exists() && !globals.exists());
        assert!(dir.join("freeze.json").exists());
        remove_dir(&dir).unwrap();
        assert!(!dir.exists());
    }
}
