//! The one way the tool writes a config file (`schedule add`, `config.set`,
//! `index tune --apply`): under a writers' lock, from the file as it is now,
//! checked before it is written, and replaced atomically.

use super::Config;
use crate::base::error::{HostError, HostResult};
use std::path::{Path, PathBuf};

/// How long a writer waits for another to finish with the config file.
const CONFIG_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `name` with `suffix` appended to its file name (`config.toml.lock`).
fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    file.with_file_name(name)
}

/// Hold the writers' lock of a config file: an exclusive lock on
/// `config.toml.lock` beside it (released when the handle drops). The lock
/// file is never removed: removing it would let two writers lock two files.
fn lock_config(config_file: &Path) -> HostResult<std::fs::File> {
    let lock_path = beside(config_file, ".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            HostError::io(
                format!("cannot open the lock file {}", lock_path.display()),
                e,
            )
        })?;
    let deadline = std::time::Instant::now() + CONFIG_LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(HostError::timeout(format!(
                    "another process has held {} for {}s",
                    lock_path.display(),
                    CONFIG_LOCK_WAIT.as_secs()
                ))
                .with_hint(
                    "another elysiactl is writing the config file; try again when it is done",
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(HostError::io(
                    format!("cannot lock {}", lock_path.display()),
                    e,
                ))
            }
        }
    }
}

/// Replace `file` with `text` so that a reader sees the old file or the new
/// one, never half of either: written aside, flushed to disk, renamed over,
/// and the folder flushed so the rename itself survives a crash. The new
/// file keeps the old one's permissions (it may hold keys).
fn replace_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = beside(file, ".tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(file) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        if let Some(dir) = file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Edit the config file, keeping everything `edit` does not touch (comments
/// included) as the user wrote it. The result must still be a valid config,
/// else nothing is written. This is the one way the tool writes a config
/// file: under the writers' lock, `edit` sees the file as it is now (not as
/// this process loaded it), so concurrent read-modify-writes (thirty
/// `schedule add`s at once) each keep the others' changes; and the file is
/// replaced atomically. An error means nothing was written.
pub fn edit_file<T>(
    config_file: &Path,
    edit: impl FnOnce(&mut toml_edit::DocumentMut) -> HostResult<T>,
) -> HostResult<T> {
    // Write where a symlinked config file really lives, not over the link.
    let config_file =
        &std::fs::canonicalize(config_file).unwrap_or_else(|_| config_file.to_path_buf());
    if let Some(dir) = config_file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    }
    let _lock = lock_config(config_file)?;
    let text = match std::fs::read_to_string(config_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        // Not "empty": writing would replace a file we could not read.
        Err(e) => {
            return Err(HostError::io(
                format!("cannot read {}", config_file.display()),
                e,
            ))
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
        HostError::validation(format!("{} does not parse: {e}", config_file.display()))
            .with_hint("fix the config file first; the message names the line")
    })?;
    let result = edit(&mut doc)?;
    let new_text = doc.to_string();
    Config::parse(&new_text)
        .and_then(|c| c.validate())
        .map_err(|e| {
            HostError::validation(format!(
                "the change would make {} invalid: {}",
                config_file.display(),
                e.message
            ))
            .with_hint(e.hint)
        })?;
    replace_atomically(config_file, &new_text)
        .map_err(|e| HostError::io(format!("cannot write {}", config_file.display()), e))?;
    Ok(result)
}

/// Set `values` in the `[section]` of the config file.
pub fn set_values(
    config_file: &Path,
    section: &str,
    values: &serde_json::Map<String, serde_json::Value>,
) -> HostResult<()> {
    edit_file(config_file, |doc| {
        let table = doc
            .entry(section)
            .or_insert(toml_edit::table())
            .as_table_mut()
            .ok_or_else(|| {
                HostError::validation(format!("{section} is not a table in the config file"))
            })?;
        for (k, v) in values {
            let item = match v {
                serde_json::Value::Bool(b) => toml_edit::value(*b),
                serde_json::Value::Number(n) if n.is_i64() => {
                    toml_edit::value(n.as_i64().unwrap_or_default())
                }
                serde_json::Value::Number(n) => toml_edit::value(n.as_f64().unwrap_or_default()),
                serde_json::Value::String(s) => toml_edit::value(s.as_str()),
                other => {
                    return Err(HostError::validation(format!(
                    "{section}.{k} = {other}: only numbers, strings and booleans are set this way"
                ))
                    .with_hint("edit the config file by hand for tables and lists"))
                }
            };
            table.insert(k, item);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_keeps_comments_and_refuses_what_would_not_load() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.toml");
        std::fs::write(&f, "# mine\n[index]\nbatch_size = 200 # tuned later\n").unwrap();
        let mut values = serde_json::Map::new();
        values.insert("batch_size".into(), serde_json::json!(500));
        values.insert("upload_concurrency".into(), serde_json::json!(8));
        set_values(&f, "index", &values).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("# mine"), "{text}");
        let cfg = Config::parse(&text).unwrap();
        assert_eq!(
            (cfg.index.batch_size, cfg.index.upload_concurrency),
            (500, 8)
        );
        let mut bad = serde_json::Map::new();
        bad.insert("batch_sise".into(), serde_json::json!(1));
        let err = set_values(&f, "index", &bad).unwrap_err();
        assert!(err.message.contains("batch_sise"), "{}", err.message);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            text,
            "nothing written"
        );
    }

    #[test]
    fn edits_keep_the_file_private_and_leave_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.toml");
        std::fs::write(&f, "[weaviate]\napi_key = \"k\"\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut values = serde_json::Map::new();
        values.insert("nodes".into(), serde_json::json!(1));
        set_values(&f, "weaviate", &values).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }
}
