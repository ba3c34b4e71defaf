//! Redis 7.0's AOF manifest (`<appendfilename>.manifest` in `appenddirname`): which
//! files make up the AOF — one base, history files waiting for deletion, and the
//! incremental files in sequence order — and their names. Parsing follows
//! `aofLoadManifestFromDisk` rule for rule (its 1024-byte lines, `sdssplitargs`
//! quoting, its error texts); formatting follows `aofInfoFormat`. Pure: bytes in,
//! bytes out, never a panic on what a file holds.

/// Redis's `MANIFEST_MAX_LINE`: a line (newline included) must fit in this many bytes.
pub const MANIFEST_MAX_LINE_BYTES: usize = 1024;

/// A manifest bigger than this is refused before it is parsed (Redis has no limit; a
/// real one holds a handful of lines).
pub const MANIFEST_MAX_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// `b`: the base (an RDB preamble or AOF commands).
    Base,
    /// `h`: a former base or incr file, deleted after a rewrite.
    History,
    /// `i`: an incremental file of commands.
    Incr,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: i64,
    pub kind: FileType,
}

/// The parsed manifest (Redis's `aofManifest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    pub incrs: Vec<AofFile>,
    pub curr_base_seq: i64,
    pub curr_incr_seq: i64,
}

/// Why a manifest was refused: Redis's text, and the line (number and trimmed text)
/// when one was being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub message: &'static str,
    pub line: Option<(usize, String)>,
}

impl ManifestError {
    /// The lines Redis logs before exiting (`loaderr:` in `aofLoadManifestFromDisk`).
    pub fn log_lines(&self) -> Vec<String> {
        let mut lines = vec!["\n*** FATAL AOF MANIFEST FILE ERROR ***\n".to_string()];
        if let Some((number, text)) = &self.line {
            lines.push(format!("Reading the manifest file, at line {number}\n"));
            lines.push(format!(">>> '{text}'\n"));
        }
        lines.push(format!("{}\n", self.message));
        lines
    }
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.line {
            Some((n, text)) => write!(f, "{} (line {n}: '{text}')", self.message),
            None => f.write_str(self.message),
        }
    }
}

const INVALID_FORMAT: &str = "The AOF manifest file is invalid format";

impl Manifest {
    /// Parses a manifest file's bytes as Redis 7.0 does.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let err =
            |message: &'static str, line: Option<(usize, String)>| ManifestError { message, line };
        if bytes.len() > MANIFEST_MAX_BYTES {
            return Err(err("The AOF manifest file is too big", None));
        }
        if bytes.is_empty() {
            return Err(err("Found an empty AOF manifest", None));
        }
        let mut manifest = Manifest::default();
        let mut max_incr_seq = 0i64;
        let mut rest = bytes;
        let mut line_number = 0usize;
        while !rest.is_empty() {
            // fgets: up to MANIFEST_MAX_LINE bytes, or through the first newline.
            let window = rest.len().min(MANIFEST_MAX_LINE_BYTES);
            let head = rest.get(..window).unwrap_or(rest);
            let piece_len = head
                .iter()
                .position(|&b| b == b'\n')
                .map_or(window, |i| i + 1);
            let piece = rest.get(..piece_len).unwrap_or(rest);
            rest = rest.get(piece_len..).unwrap_or(&[]);
            line_number += 1;
            if piece.first() == Some(&b'#') {
                continue;
            }
            if !piece.contains(&b'\n') {
                return Err(err("The AOF manifest file contains too long line", None));
            }
            let trimmed = trim(piece);
            let text = String::from_utf8_lossy(trimmed).into_owned();
            let here = || Some((line_number, text.clone()));
            if trimmed.is_empty() {
                return Err(err(INVALID_FORMAT, here()));
            }
            let args = match split_args(trimmed) {
                Some(args) if args.len() >= 6 && args.len() % 2 == 0 => args,
                _ => return Err(err(INVALID_FORMAT, here())),
            };
            let mut name: Option<Vec<u8>> = None;
            let mut seq = 0i64;
            let mut kind = 0u8;
            for pair in args.chunks(2) {
                let (Some(key), Some(value)) = (pair.first(), pair.get(1)) else {
                    continue;
                };
                if key.eq_ignore_ascii_case(b"file") {
                    if value.contains(&b'/') || value.contains(&b'\\') {
                        return Err(err("File can't be a path, just a filename", here()));
                    }
                    name = Some(value.clone());
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(value);
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind = value.first().copied().unwrap_or(0);
                }
            }
            let Some(name) = name.filter(|_| seq != 0 && kind != 0) else {
                return Err(err(INVALID_FORMAT, here()));
            };
            // keel's file names are text; a name that is not UTF-8 is refused, not mangled.
            let Ok(name) = String::from_utf8(name) else {
                return Err(err(INVALID_FORMAT, here()));
            };
            match kind {
                b'b' => {
                    if manifest.base.is_some() {
                        return Err(err("Found duplicate base file information", here()));
                    }
                    manifest.curr_base_seq = seq;
                    manifest.base = Some(AofFile {
                        name,
                        seq,
                        kind: FileType::Base,
                    });
                }
                b'h' => manifest.history.push(AofFile {
                    name,
                    seq,
                    kind: FileType::History,
                }),
                b'i' => {
                    if seq <= max_incr_seq {
                        return Err(err("Found a non-monotonic sequence number", here()));
                    }
                    max_incr_seq = seq;
                    manifest.curr_incr_seq = seq;
                    manifest.incrs.push(AofFile {
                        name,
                        seq,
                        kind: FileType::Incr,
                    });
                }
                _ => return Err(err("Unknown AOF file type", here())),
            }
        }
        if line_number == 0 {
            return Err(err("Found an empty AOF manifest", None));
        }
        Ok(manifest)
    }

    /// The file's text (Redis's `getAofManifestAsString`): base, history, incrs.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for file in self.base.iter().chain(&self.history).chain(&self.incrs) {
            out.extend_from_slice(b"file ");
            out.extend_from_slice(&quote_if_needed(file.name.as_bytes()));
            out.extend_from_slice(
                format!(" seq {} type {}\n", file.seq, file.kind.letter()).as_bytes(),
            );
        }
        out
    }

    /// No base and no incr: nothing to load (a fresh start).
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incrs.is_empty()
    }

    /// The files to load, in order: the base, then the incrs.
    pub fn load_order(&self) -> Vec<AofFile> {
        self.base.iter().chain(&self.incrs).cloned().collect()
    }

    /// Makes a new base (`<prefix>.<seq>.base.rdb|aof`), the old one becoming history
    /// (Redis's `getNewBaseFileNameAndMarkPreAsHistory`); returns its name.
    pub fn new_base(&mut self, prefix: &str, rdb_preamble: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::History;
            self.history.insert(0, old);
        }
        self.curr_base_seq = self.curr_base_seq.saturating_add(1);
        let suffix = if rdb_preamble { ".rdb" } else { ".aof" };
        let name = format!("{prefix}.{}.base{suffix}", self.curr_base_seq);
        self.base = Some(AofFile {
            name: name.clone(),
            seq: self.curr_base_seq,
            kind: FileType::Base,
        });
        name
    }

    /// Adds a new incr file (`<prefix>.<seq>.incr.aof`); returns its name.
    pub fn new_incr(&mut self, prefix: &str) -> String {
        self.curr_incr_seq = self.curr_incr_seq.saturating_add(1);
        let name = format!("{prefix}.{}.incr.aof", self.curr_incr_seq);
        self.incrs.push(AofFile {
            name: name.clone(),
            seq: self.curr_incr_seq,
            kind: FileType::Incr,
        });
        name
    }

    /// Every incr but the last (the one being appended to) becomes history (Redis's
    /// `markRewrittenIncrAofAsHistory` with the AOF open).
    pub fn mark_rewritten_incrs_as_history(&mut self) {
        let keep = self.incrs.pop();
        for mut file in self.incrs.drain(..).rev() {
            file.kind = FileType::History;
            self.history.insert(0, file);
        }
        self.incrs.extend(keep);
    }

    /// After a rewrite with the AOF off (no incr file being written): every incr
    /// file is history (Redis's `markRewrittenIncrAofAsHistory` with `aof_fd == -1`).
    pub fn mark_all_incrs_as_history(&mut self) {
        for mut file in self.incrs.drain(..).rev() {
            file.kind = FileType::History;
            self.history.insert(0, file);
        }
    }
}

/// `sdstrim(line, " \t\r\n")`.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_trim = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes
        .iter()
        .position(|b| !is_trim(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_trim(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end.max(start)).unwrap_or(&[])
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs`: whitespace-separated words, "double quotes" with C escapes
/// and \xHH, 'single quotes' with \' only; a closing quote must be followed by a space
/// or the end. None where Redis returns NULL (unbalanced quotes).
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0usize;
    let at = |i: usize| line.get(i).copied();
    loop {
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        if at(i).is_none() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            if in_double {
                match at(i) {
                    None => return None,
                    Some(b'\\') => {
                        let hex = (at(i + 1) == Some(b'x'))
                            .then(|| Some(hex_value(at(i + 2)?)? * 16 + hex_value(at(i + 3)?)?))
                            .flatten();
                        if let Some(byte) = hex {
                            current.push(byte);
                            i += 3;
                        } else if let Some(next) = at(i + 1) {
                            current.push(match next {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 0x08,
                                b'a' => 0x07,
                                other => other,
                            });
                            i += 1;
                        } else {
                            current.push(b'\\');
                        }
                    }
                    Some(b'"') => {
                        if at(i + 1).is_some_and(|b| !is_space(b)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => current.push(b),
                }
            } else if in_single {
                match at(i) {
                    None => return None,
                    Some(b'\\') if at(i + 1) == Some(b'\'') => {
                        current.push(b'\'');
                        i += 1;
                    }
                    Some(b'\'') => {
                        if at(i + 1).is_some_and(|b| !is_space(b)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => current.push(b),
                }
            } else {
                match at(i) {
                    None => break,
                    Some(b) if is_space(b) => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(b) => current.push(b),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

/// C's `atoll` (glibc: saturating): leading spaces, a sign, digits; 0 when none.
fn atoll(bytes: &[u8]) -> i64 {
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        if !is_space(b) {
            break;
        }
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-') | Some(b'+')) {
        rest = rest.get(1..).unwrap_or(&[]);
    }
    let mut value: i64 = 0;
    for &b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        value = match value.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(digit)
            } else {
                v.checked_add(digit)
            }
        }) {
            Some(v) => v,
            None => return if negative { i64::MIN } else { i64::MAX },
        };
    }
    value
}

/// `sdsneedsrepr` then `sdscatrepr`: a name with spaces, quotes, backslashes or
/// unprintable bytes is written quoted and escaped, others as they are.
/// A single quote anywhere is quoted too (sdssplitargs would read it as quoting; Redis's
/// sdsneedsrepr misses it, so its manifest cannot round-trip such a name).
fn quote_if_needed(name: &[u8]) -> Vec<u8> {
    let needs = name.iter().any(|&b| {
        matches!(
            b,
            b'\\' | b'"' | b'\'' | b'\n' | b'\r' | b'\t' | 0x07 | 0x08
        ) || !(0x20..0x7f).contains(&b)
            || is_space(b)
    });
    if !needs {
        return name.to_vec();
    }
    let mut out = vec![b'"'];
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            other => out.extend_from_slice(format!("\\x{other:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REDIS_FIRST_START: &[u8] =
        b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";

    #[test]
    fn parses_and_renders_what_redis_writes_on_first_start() {
        let m = Manifest::parse(REDIS_FIRST_START).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 1);
        assert_eq!(m.curr_incr_seq, 1);
        assert_eq!(m.render(), REDIS_FIRST_START);
    }

    #[test]
    fn new_files_are_named_as_redis_names_them() {
        let mut m = Manifest::default();
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.1.base.rdb"
        );
        assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
        assert_eq!(m.render(), REDIS_FIRST_START);
        assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.2.incr.aof");
        assert_eq!(
            m.new_base("appendonly.aof", false),
            "appendonly.aof.2.base.aof"
        );
        m.mark_rewritten_incrs_as_history();
        assert_eq!(
            String::from_utf8(m.render()).unwrap(),
            "file appendonly.aof.2.base.aof seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
    }

    #[test]
    fn errors_carry_redis_texts() {
        let cases: &[(&[u8], &str, Option<usize>)] = &[
            (b"", "Found an empty AOF manifest", None),
            // Redis 7.0.15 refuses a last line without its newline this way (asked).
            (
                b"file a seq 1 type b\nfile b seq 1 type i",
                "The AOF manifest file contains too long line",
                None,
            ),
            (b"file a seq 1 type x\n", "Unknown AOF file type", Some(1)),
            (
                b"file a seq 1 type b\nfile b seq 2 type b\n",
                "Found duplicate base file information",
                Some(2),
            ),
            (
                b"file a seq 2 type i\nfile b seq 2 type i\n",
                "Found a non-monotonic sequence number",
                Some(2),
            ),
            (
                b"file a/b seq 1 type i\n",
                "File can't be a path, just a filename",
                Some(1),
            ),
            (b"file a seq 0 type i\n", INVALID_FORMAT, Some(1)),
            (b"file a seq 1\n", INVALID_FORMAT, Some(1)),
            (b"file \"a seq 1 type i\n", INVALID_FORMAT, Some(1)),
            (b"\n", INVALID_FORMAT, Some(1)),
        ];
        for (bytes, message, line) in cases {
            let e = Manifest::parse(bytes).unwrap_err();
            assert_eq!(e.message, *message, "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(e.line.map(|l| l.0), *line);
        }
        let long = [
            b"#".to_vec(),
            b"a".repeat(2000),
            b"\nfile a seq 1 type b\n".to_vec(),
        ]
        .concat();
        // A long comment is read in 1024-byte pieces, the second is not a comment.
        assert!(Manifest::parse(&long).is_err());
    }

    #[test]
    fn comments_and_quoted_names() {
        let m = Manifest::parse(b"# hi\nfile \"a b\\x41\" seq 1 type i\nFILE 'c' SEQ 3 TYPE h\n")
            .unwrap();
        assert_eq!(m.incrs[0].name, "a bA");
        assert_eq!(m.history[0].name, "c");
        let again = Manifest::parse(&m.render()).unwrap();
        assert_eq!(again, m);
        assert_eq!(split_args(b"a\"b c\"d"), None);
        assert_eq!(
            split_args(b"  x  'y z'  "),
            Some(vec![b"x".to_vec(), b"y z".to_vec()])
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = Manifest::parse(&bytes);
        }

        #[test]
        fn near_valid_garbage_never_panics(lines in proptest::collection::vec(
            (prop_oneof![Just("file"), Just("seq"), Just("type"), Just("\"x"), Just("'y'")],
             "[ -~]{0,12}", any::<i8>()), 0..8)) {
            let text: String = lines.iter().map(|(k, v, n)| format!("{k} {v} seq {n} type i\n")).collect();
            let _ = Manifest::parse(text.as_bytes());
        }

        #[test]
        fn rendered_manifests_parse_back(names in proptest::collection::vec("[ -~\t\u{80}-\u{ff}]{1,30}", 1..5)) {
            let mut m = Manifest::default();
            for (i, name) in names.iter().enumerate() {
                let name = name.replace(['/', '\\'], "_");
                m.curr_incr_seq = i as i64 + 1;
                m.incrs.push(AofFile { name, seq: i as i64 + 1, kind: FileType::Incr });
            }
            let parsed = Manifest::parse(&m.render());
            // Names whose quoted form exceeds a line are refused, never mangled.
            if let Ok(parsed) = parsed {
                prop_assert_eq!(parsed, m);
            }
        }
    }
}
