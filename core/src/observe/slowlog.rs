//! The slow log (Redis's slowlog.c): the last `slowlog-max-len` commands that ran at
//! least `slowlog-log-slower-than` microseconds, newest first, with their arguments cut
//! as Redis cuts them. It only stores what it is handed; timing is the caller's.

use std::collections::VecDeque;

/// Arguments kept per entry; the last slot says how many more there were.
pub const ENTRY_MAX_ARGC: usize = 32;
/// Bytes kept of each argument; the rest is summarised.
pub const ENTRY_MAX_STRING_BYTES: usize = 128;

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    pub time_secs: u64,
    pub duration_us: u64,
    pub argv: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct SlowLog {
    /// Newest first.
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// Redis's `slowlogCreateEntry` argument rules: at most 32 arguments, the 32nd
/// replaced by `... (N more arguments)`; each longer than 128 bytes cut to 128 and
/// followed by `... (N more bytes)`.
pub fn truncated_argv<'a>(args: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let argc = args.len();
    let kept = argc.min(ENTRY_MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (j, arg) in args.take(kept).enumerate() {
        if kept != argc && j == kept - 1 {
            out.push(format!("... ({} more arguments)", argc - kept + 1).into_bytes());
        } else if arg.len() > ENTRY_MAX_STRING_BYTES {
            let mut cut = arg.get(..ENTRY_MAX_STRING_BYTES).unwrap_or(arg).to_vec();
            cut.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - ENTRY_MAX_STRING_BYTES).as_bytes(),
            );
            out.push(cut);
        } else {
            out.push(arg.to_vec());
        }
    }
    out
}

impl SlowLog {
    /// Adds an entry (its id drawn here) and trims to `max_len` (a lowered
    /// `slowlog-max-len` takes effect here, on the next entry, as in Redis).
    pub fn push(&mut self, mut entry: Entry, max_len: usize) {
        entry.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// SLOWLOG RESET: the entries go, ids keep counting (as Redis).
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    pub fn newest(&self, count: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_cut_as_redis_cuts_them() {
        let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        let cut = truncated_argv(many.iter().map(Vec::as_slice));
        assert_eq!(cut.len(), 32);
        assert_eq!(cut.get(30).map(Vec::as_slice), Some(&b"30"[..]));
        assert_eq!(
            cut.get(31).map(Vec::as_slice),
            Some(&b"... (9 more arguments)"[..])
        );
        let long = [b'x'; 130];
        let cut = truncated_argv([&long[..]].into_iter());
        let mut want = vec![b'x'; 128];
        want.extend_from_slice(b"... (2 more bytes)");
        assert_eq!(cut, vec![want]);
        let exact: Vec<Vec<u8>> = (0..32).map(|_| vec![b'a'; 128]).collect();
        assert_eq!(truncated_argv(exact.iter().map(Vec::as_slice)), exact);
    }

    #[test]
    fn newest_first_bounded_and_ids_survive_reset() {
        let mut log = SlowLog::default();
        let entry = |d| Entry {
            id: 0,
            time_secs: 1,
            duration_us: d,
            argv: vec![],
            peer: String::new(),
            name: vec![],
        };
        for d in 0..5 {
            log.push(entry(d), 3);
        }
        assert_eq!(log.len(), 3);
        let ids: Vec<u64> = log.newest(10).map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
        log.reset();
        assert_eq!(log.len(), 0);
        log.push(entry(9), 3);
        assert_eq!(log.newest(1).next().map(|e| e.id), Some(5));
    }
}
