//! Loading an AOF at boot: the manifest's files in order (the base, then the incrs),
//! read in bounded chunks (`DiskOp::Read`), parsed into commands that the node runs
//! as a fake client. A truncated tail of the last file is cut off when
//! `aof-load-truncated` says so (Redis's log lines); anything else — a bad byte in
//! the middle, a truncated file that is not the last — refuses to start, naming the
//! file and the offset. Never allocates more than the bytes that really arrived.

use crate::io::{DiskError, DiskOp, DiskResult};
use crate::persist::load::RdbApplier;
use crate::persist::rdb::{LoadLimits, RdbItem, RdbReader};

use super::manifest::AofFile;

/// Redis's `AOF_ANNOTATION_LINE_MAX_LEN`: `*`/`$`/`#` lines are read in this much.
pub const LINE_MAX_BYTES: usize = 1024;

/// How much of a file one Read asks for (and so how much is run per step).
pub const LOAD_CHUNK_BYTES: u64 = 64 * 1024;

/// One complete command, or a failure to parse one.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Command {
        argv: Vec<Vec<u8>>,
        end_offset: u64,
    },
    /// Nothing complete yet: feed more.
    NeedMore,
}

/// The bytes do not follow the AOF format at `offset` (Redis's `fmterr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub offset: u64,
    pub what: &'static str,
}

/// A streaming parser of AOF commands (`*argc`, `$len` lines, payloads; `#` lines
/// are annotations and skipped). Bounded by the largest single command, never the file.
#[derive(Debug, Default)]
pub struct CommandReader {
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base_offset: u64,
}

fn line(bytes: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, &'static str> {
    let rest = bytes.get(at..).unwrap_or(&[]);
    let window = rest.get(..rest.len().min(LINE_MAX_BYTES)).unwrap_or(rest);
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => Ok(Some((window.get(..i).unwrap_or(&[]), at + i + 1))),
        None if rest.len() >= LINE_MAX_BYTES => Err("line too long"),
        None => Ok(None),
    }
}

/// `strtol`/`atoi` on a `*`/`$` line's number, strictly: digits up to `\r`.
fn number(text: &[u8]) -> Option<u64> {
    let digits = text.strip_suffix(b"\r").unwrap_or(text);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl CommandReader {
    pub fn new(base_offset: u64) -> CommandReader {
        CommandReader {
            buf: Vec::new(),
            base_offset,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed and not yet consumed (a partial command at the end of a file).
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The offset of the first byte not consumed.
    pub fn offset(&self) -> u64 {
        self.base_offset
    }

    pub fn next_command(&mut self) -> Result<Parsed, FormatError> {
        loop {
            let fail = |at: usize, what| FormatError {
                offset: self.base_offset + at as u64,
                what,
            };
            let Some(&first) = self.buf.first() else {
                return Ok(Parsed::NeedMore);
            };
            let (head, mut at) = match line(&self.buf, 0) {
                Ok(Some(found)) => found,
                Ok(None) => return Ok(Parsed::NeedMore),
                Err(what) => return Err(fail(0, what)),
            };
            if first == b'#' {
                self.consume(at);
                continue;
            }
            if first != b'*' {
                return Err(fail(0, "expected '*'"));
            }
            let argc = match head.get(1..).and_then(number) {
                Some(n) if n >= 1 => n,
                _ => return Err(fail(0, "bad argument count")),
            };
            let mut argv = Vec::new();
            for _ in 0..argc {
                let start = at;
                let (head, after) = match line(&self.buf, at) {
                    Ok(Some(found)) => found,
                    Ok(None) => return Ok(Parsed::NeedMore),
                    Err(what) => return Err(fail(start, what)),
                };
                if head.first() != Some(&b'$') {
                    return Err(fail(start, "expected '$'"));
                }
                let Some(len) = head.get(1..).and_then(number) else {
                    return Err(fail(start, "bad bulk length"));
                };
                let Some(end) = usize::try_from(len).ok().and_then(|l| after.checked_add(l)) else {
                    return Err(fail(start, "bad bulk length"));
                };
                // The payload and its CRLF must have arrived; nothing is reserved
                // for a length that has not.
                let Some(arg) = self.buf.get(after..end) else {
                    return Ok(Parsed::NeedMore);
                };
                let Some(crlf) = self.buf.get(end..end + 2) else {
                    return Ok(Parsed::NeedMore);
                };
                if crlf != b"\r\n" {
                    return Err(fail(end, "expected CRLF after a bulk string"));
                }
                argv.push(arg.to_vec());
                at = end + 2;
            }
            self.consume(at);
            return Ok(Parsed::Command {
                argv,
                end_offset: self.base_offset,
            });
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        self.base_offset += n as u64;
    }
}

/// How loading one file ended, or why loading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadFailure {
    /// Redis's log lines for it; the node logs them and exits 1.
    Fatal(Vec<String>),
}

/// What the node must do after handing the loader a completion.
#[derive(Debug)]
pub enum LoadStep {
    /// Apply these RDB preamble items, then run these commands (in order), log the
    /// lines, then ask `next_op`.
    Run {
        items: Vec<RdbItem>,
        commands: Vec<(Vec<Vec<u8>>, u64)>,
        log: Vec<String>,
    },
    Failed(LoadFailure),
}

impl LoadStep {
    fn run(commands: Vec<(Vec<Vec<u8>>, u64)>) -> LoadStep {
        LoadStep::Run {
            items: Vec::new(),
            commands,
            log: Vec::new(),
        }
    }
}

/// The sequence of files and where reading is.
#[derive(Debug)]
pub struct Loader {
    /// `appenddirname`.
    pub dir: String,
    files: Vec<AofFile>,
    index: usize,
    read_offset: u64,
    reader: CommandReader,
    /// A Read is in flight.
    reading: bool,
    /// The file just ran out of bytes: the node checks its MULTI state, then `finish_file`.
    pub at_eof: bool,
    /// Offset after the last command run, and before the last MULTI (Redis's
    /// `valid_up_to` / `valid_before_multi`).
    pub valid_up_to: u64,
    pub valid_before_multi: u64,
    /// Sizes seen: the base's and all files' (INFO aof_base_size, aof_current_size).
    pub base_bytes: u64,
    pub total_bytes: u64,
    /// The file names loaded, for "DB loaded from" lines.
    pub done: bool,
    pub load_truncated: bool,
    /// How RDB preambles are decoded (None: refused).
    limits: Option<LoadLimits>,
    /// The base's RDB preamble being read (until its END).
    rdb: Option<RdbReader>,
    /// Where the preamble's keys go (the node applies the items).
    pub applier: RdbApplier,
}

impl Loader {
    pub fn new(
        dir: String,
        files: Vec<AofFile>,
        load_truncated: bool,
        limits: Option<LoadLimits>,
    ) -> Loader {
        Loader {
            dir,
            files,
            index: 0,
            read_offset: 0,
            reader: CommandReader::new(0),
            reading: false,
            at_eof: false,
            valid_up_to: 0,
            valid_before_multi: 0,
            base_bytes: 0,
            total_bytes: 0,
            done: false,
            load_truncated,
            limits,
            rdb: None,
            applier: RdbApplier::default(),
        }
    }

    pub fn current(&self) -> Option<&AofFile> {
        self.files.get(self.index)
    }

    fn path(&self, file: &AofFile) -> String {
        format!("{}/{}", self.dir, file.name)
    }

    fn is_last(&self) -> bool {
        self.index + 1 >= self.files.len()
    }

    /// The next Read to issue (none while one is in flight or when done).
    pub fn next_op(&mut self) -> Option<DiskOp> {
        if self.reading || self.done || self.at_eof {
            return None;
        }
        let file = self.current()?.clone();
        self.reading = true;
        Some(DiskOp::Read {
            path: self.path(&file),
            offset: self.read_offset,
            len: LOAD_CHUNK_BYTES,
        })
    }

    /// A Read ended: the preamble items and commands it completed, or a failure.
    pub fn on_read(&mut self, result: DiskResult) -> LoadStep {
        self.reading = false;
        let Some(file) = self.current().cloned() else {
            return LoadStep::run(Vec::new());
        };
        let bytes = match result {
            DiskResult::Done { read } => read,
            DiskResult::Failed(DiskError::NotFound) => {
                return LoadStep::Failed(LoadFailure::Fatal(vec![format!(
                    "The append log file {} doesn't exist: No such file or directory",
                    file.name
                )]))
            }
            DiskResult::Failed(e) => {
                return LoadStep::Failed(LoadFailure::Fatal(vec![format!(
                    "Unrecoverable error reading the append only file {}: {}",
                    file.name,
                    super::writer::strerror(e)
                )]))
            }
        };
        let mut log = Vec::new();
        if self.read_offset == 0 && bytes.starts_with(b"REDIS") {
            let Some(limits) = self.limits else {
                return LoadStep::Failed(LoadFailure::Fatal(vec![format!(
                    "Error reading the RDB preamble of the AOF file {}, AOF loading aborted",
                    file.name
                )]));
            };
            log.push("Reading RDB preamble from AOF file...".to_string());
            self.rdb = Some(RdbReader::new(limits));
        }
        let got = bytes.len() as u64;
        self.total_bytes += got;
        if self.index == 0
            && self
                .files
                .first()
                .is_some_and(|f| f.kind == super::manifest::FileType::Base)
        {
            self.base_bytes += got;
        }
        let chunk_start = self.read_offset;
        self.read_offset += got;
        if got < LOAD_CHUNK_BYTES {
            self.at_eof = true;
        }
        let mut items = Vec::new();
        let mut tail: &[u8] = &bytes;
        if let Some(rdb) = self.rdb.as_mut() {
            rdb.feed(&bytes);
            if self.at_eof {
                rdb.end_of_input();
            }
            tail = &[];
            loop {
                match rdb.next() {
                    Ok(Some(RdbItem::End)) => {
                        // What follows the preamble's END (and CRC) is AOF commands.
                        let consumed = rdb.consumed_bytes();
                        let skip = usize::try_from(consumed.saturating_sub(chunk_start))
                            .unwrap_or(usize::MAX);
                        tail = bytes.get(skip..).unwrap_or_default();
                        self.reader = CommandReader::new(consumed.max(chunk_start));
                        self.rdb = None;
                        log.push("Reading the remaining AOF tail...".to_string());
                        break;
                    }
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => break,
                    Err(e) => {
                        return LoadStep::Failed(LoadFailure::Fatal(vec![
                            format!(
                                "Error reading the RDB preamble of the AOF file {}, AOF loading aborted",
                                file.name
                            ),
                            format!("AOF file {}: {e}", file.name),
                        ]))
                    }
                }
            }
        }
        self.reader.feed(tail);
        let mut commands = Vec::new();
        loop {
            match self.reader.next_command() {
                Ok(Parsed::Command { argv, end_offset }) => commands.push((argv, end_offset)),
                Ok(Parsed::NeedMore) => break,
                Err(e) => {
                    return LoadStep::Failed(LoadFailure::Fatal(vec![
                        format!(
                            "Bad file format reading the append only file {}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                            file.name
                        ),
                        format!("AOF file {} is corrupt at offset {} ({})", file.name, e.offset, e.what),
                    ]))
                }
            }
        }
        LoadStep::Run {
            items,
            commands,
            log,
        }
    }

    /// The node ran a command ending at `end_offset`; `was_multi` when it was MULTI.
    pub fn ran(&mut self, end_offset: u64, was_multi: bool) {
        if was_multi {
            self.valid_before_multi = self.valid_up_to;
        }
        self.valid_up_to = end_offset;
    }

    /// At the end of the current file (`at_eof` and its commands run): moves to the next
    /// file, or says what to do with a truncated tail. `in_multi`: the fake client is
    /// inside a MULTI that never reached EXEC. Returns the log lines, a Truncate to
    /// issue, or a failure.
    pub fn finish_file(&mut self, in_multi: bool) -> Result<FileEnd, LoadFailure> {
        let Some(file) = self.current().cloned() else {
            self.done = true;
            return Ok(FileEnd::default());
        };
        let mut end = FileEnd::default();
        let partial = self.reader.pending_bytes() > 0;
        if partial || in_multi {
            let mut valid = self.valid_up_to;
            if in_multi {
                end.log.push(format!(
                    "Revert incomplete MULTI/EXEC transaction in AOF file {}",
                    file.name
                ));
                valid = self.valid_before_multi;
            }
            if !(self.load_truncated && self.is_last()) {
                let mut lines = end.log;
                lines.push(format!(
                    "Unexpected end of file reading the append only file {}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                    file.name
                ));
                lines.push(format!(
                    "AOF file {} ends in the middle of a command at offset {} (last valid command ends at {valid})",
                    file.name,
                    self.reader.offset()
                ));
                return Err(LoadFailure::Fatal(lines));
            }
            end.log.push(format!(
                "!!! Warning: short read while loading the AOF file {}!!!",
                file.name
            ));
            end.log.push(format!(
                "!!! Truncating the AOF {} at offset {valid} !!!",
                file.name
            ));
            end.log.push(format!(
                "AOF {} loaded anyway because aof-load-truncated is enabled",
                file.name
            ));
            end.truncate = Some(DiskOp::Truncate {
                path: self.path(&file),
                len: valid,
            });
            self.total_bytes = self
                .total_bytes
                .saturating_sub(self.read_offset.saturating_sub(valid));
            end.truncated_to = Some(valid);
        }
        end.file_bytes = end.truncated_to.unwrap_or(self.read_offset);
        let kind = if file.kind == super::manifest::FileType::Base {
            "base"
        } else {
            "incr"
        };
        if self.read_offset > 0 {
            end.log
                .push(format!("DB loaded from {kind} file {}", file.name));
        }
        self.index += 1;
        self.read_offset = 0;
        self.reader = CommandReader::new(0);
        self.rdb = None;
        self.at_eof = false;
        self.valid_up_to = 0;
        self.valid_before_multi = 0;
        if self.index >= self.files.len() {
            self.done = true;
        }
        Ok(end)
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileEnd {
    pub log: Vec<String>,
    pub truncate: Option<DiskOp>,
    /// The last file was cut back to this many bytes (the writer appends after it).
    pub truncated_to: Option<u64>,
    /// The file's size once loaded (after any truncation).
    pub file_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(bytes: &[u8]) -> (Vec<Vec<Vec<u8>>>, Result<usize, FormatError>) {
        let mut r = CommandReader::new(0);
        r.feed(bytes);
        let mut out = Vec::new();
        loop {
            match r.next_command() {
                Ok(Parsed::Command { argv, .. }) => out.push(argv),
                Ok(Parsed::NeedMore) => return (out, Ok(r.pending_bytes())),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    #[test]
    fn parses_commands_annotations_and_reports_partial_tails() {
        let text = b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET";
        let (cmds, rest) = all(text);
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[1], vec![b"set".to_vec(), b"a".to_vec(), b"1".to_vec()]);
        assert_eq!(rest, Ok(11), "the partial command stays");
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_commands() {
        let text = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
        let mut r = CommandReader::new(0);
        let mut n = 0;
        for b in text.iter() {
            r.feed(&[*b]);
            while let Ok(Parsed::Command { end_offset, .. }) = r.next_command() {
                n += 1;
                assert!(end_offset <= text.len() as u64);
            }
        }
        assert_eq!(n, 2);
        assert_eq!(r.offset(), text.len() as u64);
    }

    #[test]
    fn corruption_names_the_offset() {
        let (cmds, err) = all(b"*1\r\n$4\r\nPING\r\nxx*1\r\n");
        assert_eq!(cmds.len(), 1);
        assert_eq!(err.unwrap_err().offset, 14);
        let (_, err) = all(b"*1\r\n$4\r\nPINGxx");
        assert_eq!(err.unwrap_err().offset, 12);
        let (_, err) = all(b"*0\r\n");
        assert!(err.is_err());
    }

    #[test]
    fn a_huge_length_prefix_allocates_nothing() {
        let (cmds, rest) = all(b"*1\r\n$999999999999999999\r\nab");
        assert!(cmds.is_empty());
        assert_eq!(rest, Ok(27));
    }

    fn file(name: &str, kind: super::super::manifest::FileType) -> AofFile {
        AofFile {
            name: name.into(),
            seq: 1,
            kind,
        }
    }

    #[test]
    fn a_truncated_last_file_is_cut_back_and_a_middle_one_refused() {
        use super::super::manifest::FileType;
        let cmd = b"*1\r\n$4\r\nPING\r\n";
        let body = [&cmd[..], b"*1\r\n$4\r\nPI"].concat();
        for (files, last_ok) in [(1usize, true), (2, false)] {
            let list: Vec<AofFile> = (0..files)
                .map(|i| file(&format!("f{i}"), FileType::Incr))
                .collect();
            let mut l = Loader::new("d".into(), list, true, None);
            assert!(matches!(l.next_op(), Some(DiskOp::Read { offset: 0, .. })));
            let LoadStep::Run { commands: cmds, .. } =
                l.on_read(DiskResult::Done { read: body.clone() })
            else {
                panic!()
            };
            assert_eq!(cmds.len(), 1);
            l.ran(cmds[0].1, false);
            assert!(l.at_eof);
            let end = l.finish_file(false);
            if last_ok {
                let end = end.unwrap();
                assert_eq!(
                    end.truncate,
                    Some(DiskOp::Truncate {
                        path: "d/f0".into(),
                        len: 14
                    })
                );
                assert!(end
                    .log
                    .iter()
                    .any(|l| l == "!!! Truncating the AOF f0 at offset 14 !!!"));
                assert!(l.done);
            } else {
                let LoadFailure::Fatal(lines) = end.unwrap_err();
                assert!(lines.iter().any(|l| l.contains("offset 14")), "{lines:?}");
            }
        }
    }

    #[test]
    fn an_unfinished_multi_is_reverted() {
        use super::super::manifest::FileType;
        let mut l = Loader::new("d".into(), vec![file("f", FileType::Incr)], true, None);
        l.next_op();
        let text = b"*1\r\n$4\r\nPING\r\n*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nPING\r\n";
        let LoadStep::Run { commands: cmds, .. } = l.on_read(DiskResult::Done {
            read: text.to_vec(),
        }) else {
            panic!()
        };
        l.ran(cmds[0].1, false);
        l.ran(cmds[1].1, true);
        l.ran(cmds[2].1, false);
        let end = l.finish_file(true).unwrap();
        assert_eq!(
            end.truncate,
            Some(DiskOp::Truncate {
                path: "d/f".into(),
                len: 14
            })
        );
        let mut l = Loader::new("d".into(), vec![file("f", FileType::Incr)], false, None);
        l.next_op();
        l.on_read(DiskResult::Done {
            read: text.to_vec(),
        });
        assert!(
            l.finish_file(true).is_err(),
            "aof-load-truncated no refuses"
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = all(&bytes);
        }

        #[test]
        fn mutated_aof_never_panics(pos in 0usize..60, byte in any::<u8>()) {
            let mut text = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n".to_vec();
            if let Some(b) = text.get_mut(pos) { *b = byte; }
            let _ = all(&text);
        }
    }
}
