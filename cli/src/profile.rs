//! The credentials file: INI sections (`[default]`, `[name]`) of `key = value` lines, as in
//! `~/.aws/credentials`. Reading is lenient about spaces and `#`/`;` comments; writing replaces
//! one section and keeps every other line as it was. The file is written with mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The keys a profile may hold (the last three only after `countersign login`).
pub const KEYS: [&str; 9] = [
    "access_key_id",
    "secret_access_key",
    "session_token",
    "region",
    "service",
    "endpoint",
    "expiration",
    "refresh_token",
    "refresh_expiration",
];

/// The `key = value` pairs of section `name` in `text`, or `None` when there is no such
/// section. Later duplicates win.
pub fn section(text: &str, name: &str) -> Option<BTreeMap<String, String>> {
    let mut found = None;
    let mut current: Option<&str> = None;
    for line in text.lines().map(str::trim) {
        if let Some(header) = section_header(line) {
            current = Some(header);
            if header == name {
                found.get_or_insert_with(BTreeMap::new);
            }
            continue;
        }
        if current != Some(name) || line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let (Some(map), Some((k, v))) = (found.as_mut(), line.split_once('=')) {
            map.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    found
}

/// `text` with section `name` replaced by `values` (appended when absent); other sections,
/// comments and blank lines are kept.
pub fn with_section(text: &str, name: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut skipping = false;
    let mut written = false;
    for line in text.lines() {
        if let Some(header) = section_header(line.trim()) {
            skipping = header == name;
            if skipping && !written {
                render(&mut out, name, values);
                written = true;
            }
            if skipping {
                continue;
            }
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !written {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        render(&mut out, name, values);
    }
    out
}

/// Writes `contents` to `path` with mode 0600 (through a temporary file and a rename, so a crash
/// never leaves a half-written file), creating the parent directory.
///
/// # Errors
/// The I/O error.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    match result.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(err) => {
            let _ = std::fs::remove_file(&tmp);
            Err(err)
        }
    }
}

fn section_header(line: &str) -> Option<&str> {
    line.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

fn render(out: &mut String, name: &str, values: &BTreeMap<String, String>) {
    out.push_str(&format!("[{name}]\n"));
    for (k, v) in values {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# my keys
[default]
access_key_id = AKDEFAULT
secret_access_key=s3cr=et

[ ci ]
; comment
access_key_id = AKCI
endpoint = https://cs.example.com
";

    #[test]
    fn sections_read_with_spaces_comments_and_equals_in_values() {
        let default = section(FILE, "default").unwrap();
        assert_eq!(default["access_key_id"], "AKDEFAULT");
        assert_eq!(default["secret_access_key"], "s3cr=et");
        let ci = section(FILE, "ci").unwrap();
        assert_eq!(ci.len(), 2);
        assert_eq!(ci["endpoint"], "https://cs.example.com");
        assert_eq!(section(FILE, "nope"), None);
        assert_eq!(section("[empty]\n", "empty"), Some(BTreeMap::new()));
    }

    #[test]
    fn replacing_a_section_keeps_the_rest() {
        let values = BTreeMap::from([("access_key_id".to_owned(), "AKNEW".to_owned())]);
        let text = with_section(FILE, "default", &values);
        assert!(
            text.starts_with("# my keys\n[default]\naccess_key_id = AKNEW\n"),
            "{text}"
        );
        assert!(!text.contains("s3cr=et"));
        assert_eq!(section(&text, "ci"), section(FILE, "ci"));
        let added = with_section(FILE, "new", &values);
        assert_eq!(section(&added, "new"), Some(values.clone()));
        assert_eq!(section(&added, "default"), section(FILE, "default"));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_written_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/credentials");
        write_private(&path, b"[default]\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[default]\n");
    }
}
