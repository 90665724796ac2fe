//! Reading inputs (`-` is stdin), writing data to stdout, and replacing a
//! bundle file atomically with mode 0600.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use signed_headers_keys::Bundle;

use crate::error::{CliError, Result};

/// Mode of every file this tool writes: key material is for its owner only.
pub const FILE_MODE: u32 = 0o600;

/// Largest input read (a bundle, a token, a JWKS): far above any real one.
const MAX_INPUT: u64 = 4 * 1024 * 1024;

/// Where a bundle or other input comes from, as the user named it.
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A path as shown in messages.
pub fn display_name(path: &Path) -> String {
    if is_stdio(path) {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// The whole text of a file, or of stdin for `-`.
pub fn read_text(path: &Path) -> Result<String> {
    let name = display_name(path);
    let mut bytes = Vec::new();
    let read = if is_stdio(path) {
        io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut bytes)
    } else {
        File::open(path).and_then(|file| file.take(MAX_INPUT + 1).read_to_end(&mut bytes))
    };
    read.map_err(|err| CliError::input(format!("{name}: {err}")))?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(CliError::input(format!(
            "{name}: larger than {MAX_INPUT} bytes: not a key bundle"
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        CliError::input(format!(
            "{name}: not text (invalid UTF-8): not a PEM bundle"
        ))
    })
}

/// Reads and fully validates a bundle (raw PEM or base64 of PEM).
pub fn load_bundle(path: &Path) -> Result<Bundle> {
    let text = read_text(path)?;
    Bundle::parse(&text).map_err(|err| CliError::input(format!("{}: {err}", display_name(path))))
}

/// Writes data to stdout (a closed pipe is an error, not a panic).
pub fn write_stdout(data: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(data.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| CliError::input(format!("writing to stdout: {err}")))
}

/// What to do when the target file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Replace it (an edit of the bundle in place, or `--force`).
    Replace,
    /// Refuse, atomically: a file created meanwhile is not clobbered either.
    Refuse,
}

/// The file a path names (symlinks followed), its directory and the prefix
/// of the temporary files written beside it (`.NAME.`).
struct Placement {
    target: PathBuf,
    dir: PathBuf,
    temp_prefix: OsString,
}

fn placement(path: &Path) -> Result<Placement> {
    let name = display_name(path);
    let target = resolve_symlink(path).map_err(|err| CliError::input(format!("{name}: {err}")))?;
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = target
        .file_name()
        .ok_or_else(|| CliError::input(format!("{name}: not a file name")))?;
    let mut temp_prefix = OsString::from(".");
    temp_prefix.push(file_name);
    temp_prefix.push(".");
    Ok(Placement {
        target,
        dir,
        temp_prefix,
    })
}

/// An exclusive hold on a file for one read-modify-write: concurrent edits
/// of one bundle run one after the other. Released when dropped (or when the
/// process dies, however it dies).
pub struct EditLock {
    _file: File,
}

/// Waits for the edit lock of `path`: an advisory lock (`flock`) on
/// `.NAME.lock` beside the file the path names (through symlinks). The lock
/// file stays; removing it could let two editors lock two different files.
/// Temporary files an interrupted edit left behind are removed once the lock
/// is held: nobody else is writing then.
pub fn lock_for_edit(path: &Path) -> Result<Option<EditLock>> {
    if is_stdio(path) {
        return Ok(None);
    }
    let name = display_name(path);
    let Placement {
        target: _,
        dir,
        temp_prefix,
    } = placement(path)?;
    let mut lock_name = temp_prefix.clone();
    lock_name.push("lock");
    let lock_path = dir.join(&lock_name);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(&lock_path)
        .map_err(|err| {
            CliError::input(format!(
                "{name}: cannot open the lock file {}: {err}",
                lock_path.display()
            ))
        })?;
    file.lock()
        .map_err(|err| CliError::input(format!("{name}: cannot lock it: {err}")))?;
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let bytes = file_name.as_encoded_bytes();
            if bytes.starts_with(temp_prefix.as_encoded_bytes()) && bytes.ends_with(b".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(Some(EditLock { _file: file }))
}

/// Writes `contents` to `path` as a file of mode 0600, atomically: a temp
/// file in the same directory is written and fsynced, renamed over the
/// target, and the directory is fsynced. Readers see the old file or the new
/// one, never a mix. A symlink target is followed: the file it points to is
/// replaced, the link stays. A replaced file keeps its owner and group.
pub fn write_atomic(path: &Path, contents: &str, overwrite: Overwrite) -> Result<()> {
    let name = display_name(path);
    let Placement {
        target,
        dir,
        temp_prefix: prefix,
    } = placement(path)?;
    let io_error = |what: &str, err: io::Error| CliError::input(format!("{name}: {what}: {err}"));
    let owner = match fs::metadata(&target) {
        Ok(meta) => Some((meta.uid(), meta.gid())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(io_error("reading its owner", err)),
    };

    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(FILE_MODE))
        .tempfile_in(&dir)
        .map_err(|err| io_error("creating a temporary file beside it", err))?;
    // The umask can only remove bits; make the mode exact regardless.
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(|err| io_error("setting mode 0600", err))?;
    if let Some((uid, gid)) = owner {
        let current = temp
            .as_file()
            .metadata()
            .map_err(|err| io_error("reading the new file's owner", err))?;
        if (current.uid(), current.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(temp.as_file(), Some(uid), Some(gid)).map_err(|err| {
                io_error(
                    &format!("keeping its owner {uid}:{gid} (run as that user or root)"),
                    err,
                )
            })?;
        }
    }
    temp.write_all(contents.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|err| io_error("writing", err))?;
    // Tests kill the process here, between the write and the rename, to
    // prove an interrupted edit leaves the old file intact (debug builds
    // only).
    #[cfg(debug_assertions)]
    if std::env::var_os("SIGNING_KEY_TEST_CRASH_BEFORE_RENAME").is_some() {
        std::process::abort();
    }
    match overwrite {
        Overwrite::Replace => temp
            .persist(&target)
            .map(drop)
            .map_err(|err| io_error("replacing", err.error))?,
        Overwrite::Refuse => temp.persist_noclobber(&target).map(drop).map_err(|err| {
            if err.error.kind() == io::ErrorKind::AlreadyExists {
                CliError::input(format!(
                    "{name} already exists: use --force to overwrite it"
                ))
            } else {
                io_error("creating", err.error)
            }
        })?,
    }
    File::open(&dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| io_error("syncing its directory", err))
}

/// The file a path names, following symlinks (a path that does not exist yet
/// is returned as is).
fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path),
        Ok(_) => Ok(path.to_path_buf()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(err) => Err(err),
    }
}
