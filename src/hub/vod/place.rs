//! Where a file's stored index lives: beside the file as `NAME.eddyidx` (as MistServer keeps
//! `NAME.dtsh`), or, when that folder is not writable, in the cache folder
//! (`$XDG_CACHE_HOME/eddy`, else `$HOME/.cache/eddy`, else `eddy` in the temp folder) under a
//! name made from a hash of the file's canonical path, so two files never share one.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The stored index's extension.
pub const EXTENSION: &str = "eddyidx";

/// `FILE.eddyidx` beside `file`.
pub fn beside(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(EXTENSION);
    PathBuf::from(name)
}

/// The cache folder, from the environment.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// The cache folder for these `XDG_CACHE_HOME` and `HOME` values (empty or relative ones do
/// not count, as the XDG specification says).
pub fn cache_dir_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let usable = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(dir) = usable(xdg_cache_home) {
        return dir.join("eddy");
    }
    if let Some(home) = usable(home) {
        return home.join(".cache").join("eddy");
    }
    std::env::temp_dir().join("eddy")
}

/// The index of `file` in the cache folder `dir`: a hash of its canonical path.
pub fn in_cache(dir: &Path, file: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{hex}.{EXTENSION}"))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let tmp = dir.join(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Stores `bytes` as the index of `file`: beside it, else in the cache folder `cache`.
/// Returns where, or why neither worked.
pub fn store(file: &Path, cache: &Path, bytes: &[u8]) -> Result<PathBuf, String> {
    let first = beside(file);
    let beside_err = match write_atomic(&first, bytes) {
        Ok(()) => return Ok(first),
        Err(e) => e,
    };
    let cached = in_cache(cache, file);
    let stored = std::fs::create_dir_all(cache).and_then(|()| write_atomic(&cached, bytes));
    match stored {
        Ok(()) => Ok(cached),
        Err(e) => Err(format!(
            "{}: {beside_err}; {}: {e}",
            first.display(),
            cached.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_folder_follows_xdg_then_home_then_temp() {
        let d = cache_dir_from(Some("/x/cache".into()), Some("/home/u".into()));
        assert_eq!(d, Path::new("/x/cache/eddy"));
        let d = cache_dir_from(Some("relative".into()), Some("/home/u".into()));
        assert_eq!(d, Path::new("/home/u/.cache/eddy"));
        let d = cache_dir_from(None, Some("".into()));
        assert_eq!(d, std::env::temp_dir().join("eddy"));
    }

    #[test]
    fn names_beside_and_in_the_cache() {
        assert_eq!(
            beside(Path::new("/films/a.mp4")),
            Path::new("/films/a.mp4.eddyidx")
        );
        let dir = Path::new("/c");
        let a = in_cache(dir, Path::new("/nowhere/a.mp4"));
        let b = in_cache(dir, Path::new("/nowhere/b.mp4"));
        assert_ne!(a, b);
        assert_eq!(a, in_cache(dir, Path::new("/nowhere/a.mp4")));
        assert!(a.starts_with(dir) && a.extension() == Some(EXTENSION.as_ref()));
    }

    #[test]
    fn stores_beside_else_in_the_cache() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("a.mp4");
        std::fs::write(&file, b"x").expect("write");
        let cache = tmp.path().join("cache");
        assert_eq!(store(&file, &cache, b"idx"), Ok(beside(&file)));
        assert_eq!(std::fs::read(beside(&file)).expect("read"), b"idx");
        // A folder that does not exist cannot take it: the cache does.
        let missing = tmp.path().join("gone").join("b.mp4");
        let at = store(&missing, &cache, b"idx2").expect("stored in the cache");
        assert!(at.starts_with(&cache));
        assert_eq!(std::fs::read(&at).expect("read"), b"idx2");
        // Neither: the reason names both places.
        let blocked = tmp.path().join("a.mp4"); // a file, not a folder
        let err = store(&missing, &blocked, b"x").expect_err("nowhere to store");
        assert!(err.contains("gone") && err.contains("a.mp4"), "{err}");
        let leftovers = std::fs::read_dir(tmp.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .count();
        assert_eq!(leftovers, 0);
    }
}
