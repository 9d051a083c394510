//! Chart archives (`.tgz`): reads a gzipped tar into `(path below the chart, bytes)` pairs as Helm's
//! loader does (the top directory is stripped, a UTF-8 BOM is dropped, directories and PAX headers
//! are skipped), refusing hostile archives with a clear error instead of trusting them: `..` paths,
//! absolute paths, links out of the chart, files or totals beyond Helm's size limits, and more
//! entries than any real chart has. Memory stays bounded by the limits below.

use std::io::Read;

/// Helm's `MaxDecompressedChartSize`: everything an archive may unpack to.
pub const MAX_CHART_SIZE: u64 = 100 * 1024 * 1024;
/// Helm's `MaxDecompressedFileSize`: one file.
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// Entries (files, directories, headers) an archive may hold; real charts have a few hundred, and
/// empty entries would otherwise escape the size limits.
pub const MAX_ENTRIES: usize = 20_000;

/// Why an archive was refused. Messages keep Helm's wording where Helm has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// Not a gzip stream.
    #[error("file '{0}' does not appear to be a gzipped archive")]
    NotGzip(String),
    /// gzip/tar framing broken.
    #[error("{0}")]
    Corrupt(String),
    /// An entry path climbs out of the chart.
    #[error("chart illegally references parent directory (entry {0:?})")]
    ParentDir(String),
    /// An entry path is absolute.
    #[error("chart illegally contains absolute paths (entry {0:?})")]
    Absolute(String),
    /// An entry has no name below the top directory.
    #[error("chart illegally contains content outside the base directory: {0:?}")]
    OutsideBase(String),
    /// A Windows drive path.
    #[error("chart contains illegally named files (entry {0:?})")]
    DrivePath(String),
    /// `Chart.yaml` at the archive root instead of in a top directory.
    #[error("chart yaml not in base directory")]
    ChartYamlAtRoot,
    /// A symbolic or hard link whose target leaves the chart.
    #[error("chart archive entry {entry:?} links to {target:?}, outside the chart")]
    LinkOutside {
        /// The entry.
        entry: String,
        /// Its link target.
        target: String,
    },
    /// One file too large.
    #[error("decompressed chart file {0:?} is larger than the maximum file size {MAX_FILE_SIZE}")]
    FileTooLarge(String),
    /// The whole archive too large.
    #[error("decompressed chart is larger than the maximum size {MAX_CHART_SIZE}")]
    TooLarge,
    /// Too many entries.
    #[error("chart archive has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    /// Nothing in it.
    #[error("no files in chart archive")]
    Empty,
    /// Device, fifo or other special entry.
    #[error("chart archive entry {0:?} is not a regular file")]
    Irregular(String),
}

/// Whether `bytes` start like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Cleans a `/`-separated relative path lexically (Go's `path.Clean`): `.` parts dropped, `..`
/// applied; a leading `..` stays (the caller refuses it).
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(l) if *l != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

fn is_drive_path(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Unpacks a chart archive held in memory (`name` only labels errors).
pub fn unpack(name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    if !is_gzip(bytes) {
        return Err(ArchiveError::NotGzip(name.to_string()));
    }
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut tar = tar::Archive::new(gz);
    let entries = tar
        .entries()
        .map_err(|e| ArchiveError::Corrupt(format!("{name}: {e}")))?;
    let mut files = Vec::new();
    let mut remaining = MAX_CHART_SIZE;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(format!("{name}: {e}")))?;
        let header = entry.header();
        let kind = header.entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if kind.is_gnu_longname() || kind.is_gnu_longlink() {
            // The tar crate folds these into the following entry's path.
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let delim = if raw.contains('\\') { '\\' } else { '/' };
        let normalized = raw.replace(delim, "/");
        if normalized.starts_with('/') {
            return Err(ArchiveError::Absolute(raw));
        }
        let mut parts = normalized.splitn(2, '/');
        let top = parts.next().unwrap_or("");
        let below = parts.next().unwrap_or("");
        if top == "Chart.yaml" {
            return Err(ArchiveError::ChartYamlAtRoot);
        }
        if top == ".." {
            return Err(ArchiveError::ParentDir(raw));
        }
        if below.starts_with('/') {
            return Err(ArchiveError::Absolute(raw));
        }
        let n = clean(below);
        if n == "." {
            return Err(ArchiveError::OutsideBase(raw));
        }
        if n == ".." || n.starts_with("../") {
            return Err(ArchiveError::ParentDir(raw));
        }
        if is_drive_path(&n) {
            return Err(ArchiveError::DrivePath(raw));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            // Symlink targets are relative to the link's directory, hard links to the archive root.
            let resolved = if target.starts_with('/') {
                None
            } else if kind.is_symlink() {
                let dir = n.rsplit_once('/').map_or("", |(d, _)| d);
                Some(clean(&format!("{dir}/{target}")))
            } else {
                Some(clean(target.split_once('/').map_or("", |(_, r)| r)))
            };
            match resolved {
                Some(r) if r != ".." && !r.starts_with("../") && r != "." => {
                    // Helm reads a link entry as an empty file; so does flotilla, once it is
                    // known to stay inside the chart.
                    files.push((n, Vec::new()));
                    continue;
                }
                _ => {
                    return Err(ArchiveError::LinkOutside { entry: raw, target });
                }
            }
        }
        if !kind.is_file() && !kind.is_contiguous() && !kind.is_gnu_sparse() {
            return Err(ArchiveError::Irregular(raw));
        }
        let size = header.size().unwrap_or(u64::MAX);
        if size > remaining {
            return Err(ArchiveError::TooLarge);
        }
        if size > MAX_FILE_SIZE {
            return Err(ArchiveError::FileTooLarge(raw));
        }
        // Never trust the header's size: read at most one byte past the limit.
        let mut data = Vec::with_capacity(size.min(MAX_FILE_SIZE) as usize);
        (&mut entry)
            .take(MAX_FILE_SIZE.min(remaining) + 1)
            .read_to_end(&mut data)
            .map_err(|e| ArchiveError::Corrupt(format!("{name}: {raw}: {e}")))?;
        let got = data.len() as u64;
        if got > MAX_FILE_SIZE {
            return Err(ArchiveError::FileTooLarge(raw));
        }
        if got >= remaining {
            return Err(ArchiveError::TooLarge);
        }
        remaining -= got;
        if let Some(rest) = data.strip_prefix(b"\xef\xbb\xbf".as_slice()) {
            data = rest.to_vec();
        }
        files.push((n, data));
    }
    if files.is_empty() {
        return Err(ArchiveError::Empty);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    enum E<'a> {
        File(&'a str, &'a [u8]),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Dir(&'a str),
        Fifo(&'a str),
        /// A header claiming `size` bytes over a short body.
        Lying(&'a str, u64),
    }

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        // Written raw so hostile names (`..`, absolute) survive; set_path would refuse them.
        let name = &mut h.as_old_mut().name;
        let b = path.as_bytes();
        name[..b.len()].copy_from_slice(b);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    fn tgz(entries: &[E]) -> Vec<u8> {
        let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(enc);
        for e in entries {
            match e {
                E::File(p, d) => {
                    let h = header(p, tar::EntryType::Regular, d.len() as u64);
                    b.append(&h, *d).expect("append");
                }
                E::Sym(p, t) | E::Hard(p, t) => {
                    let kind = if matches!(e, E::Sym(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    };
                    let mut h = header(p, kind, 0);
                    h.set_link_name(t).expect("link name");
                    h.set_cksum();
                    b.append(&h, std::io::empty()).expect("append");
                }
                E::Dir(p) => {
                    let h = header(p, tar::EntryType::Directory, 0);
                    b.append(&h, std::io::empty()).expect("append");
                }
                E::Fifo(p) => {
                    let h = header(p, tar::EntryType::Fifo, 0);
                    b.append(&h, std::io::empty()).expect("append");
                }
                E::Lying(p, size) => {
                    // A huge claimed size with a body padded to a block: the reader must stop on
                    // the header's claim before reading anything.
                    let h = header(p, tar::EntryType::Regular, *size);
                    let mut raw = h.as_bytes().to_vec();
                    raw.extend_from_slice(&[b'x'; 512]);
                    b.get_mut().write_all_raw(&raw);
                }
            }
        }
        b.into_inner().expect("tar").finish().expect("gzip")
    }

    trait RawWrite {
        fn write_all_raw(&mut self, raw: &[u8]);
    }
    impl RawWrite for flate2::write::GzEncoder<Vec<u8>> {
        fn write_all_raw(&mut self, raw: &[u8]) {
            use std::io::Write as _;
            self.write_all(raw).expect("write");
        }
    }

    const CY: &[u8] = b"apiVersion: v2\nname: c\nversion: 0.1.0\n";

    #[test]
    fn unpacks_and_strips_the_top_directory() {
        let a = tgz(&[
            E::Dir("c/"),
            E::File("c/Chart.yaml", CY),
            E::File("c/templates/./x.yaml", b"\xef\xbb\xbfkind: A\n"),
            E::Sym("c/templates/y.yaml", "x.yaml"),
        ]);
        let files = unpack("c.tgz", &a).expect("unpacks");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["Chart.yaml", "templates/x.yaml", "templates/y.yaml"]
        );
        assert_eq!(files[1].1, b"kind: A\n");
        assert!(files[2].1.is_empty());
    }

    #[test]
    fn refuses_hostile_archives() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                tgz(&[E::File("c/Chart.yaml", CY), E::File("c/../../etc/x", b"x")]),
                "illegally references parent directory",
            ),
            (
                tgz(&[E::File("../x", b"x")]),
                "illegally references parent directory",
            ),
            (
                tgz(&[E::File("/etc/passwd", b"x")]),
                "illegally contains absolute paths",
            ),
            (
                tgz(&[E::File("c//etc/passwd", b"x")]),
                "illegally contains absolute paths",
            ),
            (tgz(&[E::File("c/C:/x", b"x")]), "illegally named files"),
            (
                tgz(&[E::File("Chart.yaml", CY)]),
                "chart yaml not in base directory",
            ),
            (tgz(&[E::File("c", CY)]), "outside the base directory"),
            (
                tgz(&[E::Sym("c/templates/x.yaml", "/etc/passwd")]),
                "outside the chart",
            ),
            (
                tgz(&[E::Sym("c/templates/x.yaml", "../../../etc/passwd")]),
                "outside the chart",
            ),
            (tgz(&[E::Hard("c/x", "d/../../y")]), "outside the chart"),
            (tgz(&[E::Fifo("c/f")]), "not a regular file"),
            (
                tgz(&[E::Lying("c/big", MAX_FILE_SIZE + 1)]),
                "larger than the maximum file size",
            ),
            (
                tgz(&[E::Lying("c/huge", MAX_CHART_SIZE + 1)]),
                "larger than the maximum size",
            ),
            (tgz(&[]), "no files in chart archive"),
            (
                b"not gzip".to_vec(),
                "does not appear to be a gzipped archive",
            ),
            (vec![0x1f, 0x8b, 8, 0, 0], "c.tgz"),
        ];
        for (bytes, want) in cases {
            match unpack("c.tgz", &bytes) {
                Ok(f) => panic!("accepted, want {want:?}: {f:?}"),
                Err(e) => assert!(e.to_string().contains(want), "{e} lacks {want:?}"),
            }
        }
    }

    #[test]
    fn bounds_total_size_and_entry_count() {
        // 21 files of 5 MiB exceed the 100 MiB total; compressed they are tiny.
        let blob = vec![b'a'; MAX_FILE_SIZE as usize];
        let names: Vec<String> = (0..21).map(|i| format!("c/f{i}")).collect();
        let entries: Vec<E> = names.iter().map(|n| E::File(n, &blob)).collect();
        let err = unpack("c.tgz", &tgz(&entries)).expect_err("too large");
        assert_eq!(err, ArchiveError::TooLarge);

        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("c/e{i}")).collect();
        let entries: Vec<E> = names.iter().map(|n| E::File(n, b"")).collect();
        let err = unpack("c.tgz", &tgz(&entries)).expect_err("too many");
        assert_eq!(err, ArchiveError::TooManyEntries);
    }
}
