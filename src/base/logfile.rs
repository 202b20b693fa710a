//! Size-based rotation of the log files the tool writes (each service's
//! output, the daemon's), so a long-running stack cannot fill the disk.
//!
//! The services write their log through a descriptor opened with O_APPEND
//! and never reopen it, so a file cannot be renamed away under them: it is
//! copied to `<name>.1` (older copies shifted to `.2` … `.keep`) and then
//! truncated in place, where the writer's next line lands at offset 0.
//! Lines written between the copy and the truncation are lost; that window
//! is one file copy long.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// When to rotate and how many rotated copies to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rotation {
    /// Rotate a log once it reaches this many bytes; 0 never rotates.
    pub max_bytes: u64,
    /// Rotated copies kept (`<name>.1` newest); 0 truncates without a copy.
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 64 << 20,
            keep: 5,
        }
    }
}

/// `<path>.<n>`: the n-th newest rotated copy.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Rotate `path` when it has reached `rotation.max_bytes`; true when it did.
pub fn rotate_if_over(path: &Path, rotation: Rotation) -> io::Result<bool> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if rotation.max_bytes == 0 || len < rotation.max_bytes {
        return Ok(false);
    }
    if rotation.keep > 0 {
        let _ = fs::remove_file(rotated(path, rotation.keep));
        for n in (1..rotation.keep).rev() {
            match fs::rename(rotated(path, n), rotated(path, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::copy(path, rotated(path, 1))?;
    }
    fs::OpenOptions::new().write(true).open(path)?.set_len(0)?;
    Ok(true)
}

/// Rotate every `*.log` in `dir` that is over the size (the daemon does
/// this on its tick, for services that run for weeks).
pub fn rotate_dir(dir: &Path, rotation: Rotation) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter(|p| rotate_if_over(p, rotation).unwrap_or(false))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn rotation_keeps_the_newest_copies_and_the_writer_goes_on_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.log");
        // The writer as a service holds it: opened once, appending.
        let mut writer = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let rotation = Rotation {
            max_bytes: 10,
            keep: 2,
        };
        for round in 0..4 {
            writeln!(writer, "round {round} line").unwrap();
            assert!(rotate_if_over(&log, rotation).unwrap());
        }
        writeln!(writer, "after").unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "after\n");
        assert_eq!(
            fs::read_to_string(rotated(&log, 1)).unwrap(),
            "round 3 line\n"
        );
        assert_eq!(
            fs::read_to_string(rotated(&log, 2)).unwrap(),
            "round 2 line\n"
        );
        assert!(!rotated(&log, 3).exists(), "only `keep` copies are kept");
        // Under the size: left alone.
        assert!(!rotate_if_over(&log, rotation).unwrap());
    }

    #[test]
    fn a_folder_rotates_only_its_logs_over_the_size() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("big.log"), "x".repeat(20)).unwrap();
        fs::write(dir.path().join("small.log"), "x").unwrap();
        fs::write(dir.path().join("big.txt"), "x".repeat(20)).unwrap();
        let rotation = Rotation {
            max_bytes: 10,
            keep: 1,
        };
        let done = rotate_dir(dir.path(), rotation);
        assert_eq!(done, vec![dir.path().join("big.log")]);
        assert_eq!(fs::metadata(dir.path().join("big.txt")).unwrap().len(), 20);
        assert_eq!(fs::metadata(dir.path().join("small.log")).unwrap().len(), 1);
    }
}
