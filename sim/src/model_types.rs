//! The reference model for the collection types: lists, sets, sorted sets and hashes
//! written the plainest way (`VecDeque`, `BTreeSet`, `BTreeMap`), with Redis 7.0's
//! replies for the commands the simulator's workload sends. Only commands whose reply
//! does not depend on an unspecified order are modelled (no SMEMBERS, no HGETALL).
//! Sorted-set scores in the workload are integers, so `%.17g` prints them as integers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Clone, PartialEq)]
pub enum Coll {
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(BTreeMap<Vec<u8>, i64>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}

impl Coll {
    pub fn type_name(&self) -> &'static str {
        match self {
            Coll::List(_) => "list",
            Coll::Set(_) => "set",
            Coll::ZSet(_) => "zset",
            Coll::Hash(_) => "hash",
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Coll::List(l) => l.is_empty(),
            Coll::Set(s) => s.is_empty(),
            Coll::ZSet(z) => z.is_empty(),
            Coll::Hash(h) => h.is_empty(),
        }
    }
}

pub const WRONGTYPE: &[u8] =
    b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
const NIL: &[u8] = b"$-1\r\n";
const NIL_ARRAY: &[u8] = b"*-1\r\n";

fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

fn array<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let items: Vec<&[u8]> = items.into_iter().collect();
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend_from_slice(&bulk(i));
    }
    out
}

fn parse_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// Redis's clamp of a [start, stop] index pair (negative from the end) over `len`.
fn range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

/// The commands this model answers (uppercase).
pub fn handles(name: &str) -> bool {
    matches!(
        name,
        "LPUSH"
            | "RPUSH"
            | "LPOP"
            | "RPOP"
            | "LLEN"
            | "LRANGE"
            | "LINDEX"
            | "LREM"
            | "LTRIM"
            | "SADD"
            | "SREM"
            | "SCARD"
            | "SISMEMBER"
            | "SMISMEMBER"
            | "SPOP"
            | "ZADD"
            | "ZSCORE"
            | "ZINCRBY"
            | "ZREM"
            | "ZCARD"
            | "ZRANGE"
            | "ZRANK"
            | "HSET"
            | "HGET"
            | "HDEL"
            | "HLEN"
            | "HEXISTS"
            | "HINCRBY"
    )
}

/// Applies one collection command. `mutant` flags the planted bugs the model must not
/// share (it never does: it is the reference). Returns None for shapes it does not know.
pub fn apply(colls: &mut BTreeMap<Vec<u8>, Coll>, name: &str, req: &[Vec<u8>]) -> Option<Vec<u8>> {
    let key = req.get(1)?.clone();
    let args = &req[2..];
    let want = match name.as_bytes()[0] {
        b'L' | b'R' => "list",
        b'S' => "set",
        b'Z' => "zset",
        b'H' => "hash",
        _ => return None,
    };
    // ZADD validates its options before it looks the key up.
    if let (Some(c), false) = (colls.get(&key), name == "ZADD") {
        if c.type_name() != want {
            return Some(WRONGTYPE.to_vec());
        }
    }
    let reply = match want {
        "list" => list(colls, &key, name, args)?,
        "set" => set(colls, &key, name, args)?,
        "zset" => zset(colls, &key, name, args)?,
        _ => hash(colls, &key, name, args)?,
    };
    if colls.get(&key).is_some_and(Coll::is_empty) {
        colls.remove(&key);
    }
    Some(reply)
}

fn list(
    colls: &mut BTreeMap<Vec<u8>, Coll>,
    key: &[u8],
    name: &str,
    args: &[Vec<u8>],
) -> Option<Vec<u8>> {
    let existing = match colls.get_mut(key) {
        Some(Coll::List(l)) => Some(l),
        _ => None,
    };
    Some(match name {
        "LPUSH" | "RPUSH" => {
            if args.is_empty() {
                return None;
            }
            let l = match colls
                .entry(key.to_vec())
                .or_insert_with(|| Coll::List(VecDeque::new()))
            {
                Coll::List(l) => l,
                _ => return None,
            };
            for a in args {
                if name == "LPUSH" {
                    l.push_front(a.clone());
                } else {
                    l.push_back(a.clone());
                }
            }
            int(l.len() as i64)
        }
        "LPOP" | "RPOP" => {
            let count = match args.first() {
                Some(c) => Some(usize::try_from(parse_int(c)?).ok()?),
                None => None,
            };
            let Some(l) = existing else {
                return Some(if count.is_some() { NIL_ARRAY } else { NIL }.to_vec());
            };
            let mut pop = || {
                if name == "LPOP" {
                    l.pop_front()
                } else {
                    l.pop_back()
                }
            };
            match count {
                None => bulk(&pop()?),
                Some(n) => {
                    let got: Vec<Vec<u8>> = (0..n).map_while(|_| pop()).collect();
                    array(got.iter().map(Vec::as_slice))
                }
            }
        }
        "LLEN" => int(existing.map_or(0, |l| l.len() as i64)),
        "LRANGE" => {
            let (start, stop) = (parse_int(args.first()?)?, parse_int(args.get(1)?)?);
            let Some(l) = existing else {
                return Some(b"*0\r\n".to_vec());
            };
            match range(l.len(), start, stop) {
                Some((a, b)) => array(l.range(a..=b).map(Vec::as_slice)),
                None => b"*0\r\n".to_vec(),
            }
        }
        "LINDEX" => {
            let i = parse_int(args.first()?)?;
            let Some(l) = existing else {
                return Some(NIL.to_vec());
            };
            let i = if i < 0 { l.len() as i64 + i } else { i };
            match usize::try_from(i).ok().and_then(|i| l.get(i)) {
                Some(v) => bulk(v),
                None => NIL.to_vec(),
            }
        }
        "LREM" => {
            let count = parse_int(args.first()?)?;
            let value = args.get(1)?;
            let Some(l) = existing else {
                return Some(int(0));
            };
            let limit = if count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let mut removed = 0;
            let mut idx: Vec<usize> = (0..l.len()).collect();
            if count < 0 {
                idx.reverse();
            }
            let mut drop = BTreeSet::new();
            for i in idx {
                if removed < limit && l[i] == *value {
                    drop.insert(i);
                    removed += 1;
                }
            }
            let kept: VecDeque<Vec<u8>> = l
                .drain(..)
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, v)| v)
                .collect();
            *l = kept;
            int(removed as i64)
        }
        "LTRIM" => {
            let (start, stop) = (parse_int(args.first()?)?, parse_int(args.get(1)?)?);
            if let Some(l) = existing {
                match range(l.len(), start, stop) {
                    Some((a, b)) => {
                        l.truncate(b + 1);
                        l.drain(..a);
                    }
                    None => l.clear(),
                }
            }
            b"+OK\r\n".to_vec()
        }
        _ => return None,
    })
}

fn set(
    colls: &mut BTreeMap<Vec<u8>, Coll>,
    key: &[u8],
    name: &str,
    args: &[Vec<u8>],
) -> Option<Vec<u8>> {
    let existing = match colls.get_mut(key) {
        Some(Coll::Set(s)) => Some(s),
        _ => None,
    };
    Some(match name {
        "SADD" => {
            if args.is_empty() {
                return None;
            }
            let s = match colls
                .entry(key.to_vec())
                .or_insert_with(|| Coll::Set(BTreeSet::new()))
            {
                Coll::Set(s) => s,
                _ => return None,
            };
            int(args.iter().filter(|a| s.insert((*a).clone())).count() as i64)
        }
        "SREM" => int(existing.map_or(0, |s| args.iter().filter(|a| s.remove(*a)).count() as i64)),
        "SCARD" => int(existing.map_or(0, |s| s.len() as i64)),
        "SISMEMBER" => {
            let m = args.first()?;
            int(i64::from(existing.is_some_and(|s| s.contains(m))))
        }
        "SMISMEMBER" => {
            let mut out = format!("*{}\r\n", args.len()).into_bytes();
            for a in args {
                out.extend_from_slice(&int(i64::from(
                    existing.as_ref().is_some_and(|s| s.contains(a)),
                )));
            }
            out
        }
        _ => return None,
    })
}

fn zset(
    colls: &mut BTreeMap<Vec<u8>, Coll>,
    key: &[u8],
    name: &str,
    args: &[Vec<u8>],
) -> Option<Vec<u8>> {
    let existing = match colls.get_mut(key) {
        Some(Coll::ZSet(z)) => Some(z),
        _ => None,
    };
    // Members ordered as Redis: by score, then member bytes.
    fn ordered(z: &BTreeMap<Vec<u8>, i64>) -> Vec<(&[u8], i64)> {
        let mut v: Vec<(&[u8], i64)> = z.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
        v
    }
    Some(match name {
        "ZADD" => {
            let mut i = 0;
            let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
                (false, false, false, false, false, false);
            while let Some(a) = args.get(i) {
                match a.to_ascii_uppercase().as_slice() {
                    b"NX" => nx = true,
                    b"XX" => xx = true,
                    b"GT" => gt = true,
                    b"LT" => lt = true,
                    b"CH" => ch = true,
                    b"INCR" => incr = true,
                    _ => break,
                }
                i += 1;
            }
            let pairs = &args[i..];
            if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
                return Some(b"-ERR syntax error\r\n".to_vec());
            }
            if nx && xx {
                return Some(
                    b"-ERR XX and NX options at the same time are not compatible\r\n".to_vec(),
                );
            }
            if (nx && (gt || lt)) || (gt && lt) {
                return Some(
                    b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
                        .to_vec(),
                );
            }
            if incr && pairs.len() > 2 {
                return Some(
                    b"-ERR INCR option supports a single increment-element pair\r\n".to_vec(),
                );
            }
            let mut parsed = Vec::new();
            for p in pairs.chunks(2) {
                parsed.push((parse_int(&p[0])?, p[1].clone()));
            }
            if colls.get(key).is_some_and(|c| c.type_name() != "zset") {
                return Some(WRONGTYPE.to_vec());
            }
            if xx && !colls.contains_key(key) {
                return Some(if incr { NIL.to_vec() } else { int(0) });
            }
            let z = match colls
                .entry(key.to_vec())
                .or_insert_with(|| Coll::ZSet(BTreeMap::new()))
            {
                Coll::ZSet(z) => z,
                _ => return None,
            };
            let (mut added, mut updated) = (0, 0);
            let mut last = None;
            for (score, member) in parsed {
                match z.get(&member).copied() {
                    Some(cur) => {
                        if nx {
                            last = None;
                            continue;
                        }
                        let new = if incr { cur.checked_add(score)? } else { score };
                        if (lt && new >= cur) || (gt && new <= cur) {
                            last = None;
                            continue;
                        }
                        if new != cur {
                            z.insert(member, new);
                            updated += 1;
                        }
                        last = Some(new);
                    }
                    None => {
                        if xx {
                            last = None;
                            continue;
                        }
                        z.insert(member, score);
                        added += 1;
                        last = Some(score);
                    }
                }
            }
            if incr {
                match last {
                    Some(s) => bulk(s.to_string().as_bytes()),
                    None => NIL.to_vec(),
                }
            } else {
                int(added + if ch { updated } else { 0 })
            }
        }
        "ZINCRBY" => {
            let by = parse_int(args.first()?)?;
            let member = args.get(1)?.clone();
            let z = match colls
                .entry(key.to_vec())
                .or_insert_with(|| Coll::ZSet(BTreeMap::new()))
            {
                Coll::ZSet(z) => z,
                _ => return None,
            };
            let s = z.entry(member).or_insert(0);
            *s = s.checked_add(by)?;
            bulk(s.to_string().as_bytes())
        }
        "ZSCORE" => match existing.and_then(|z| z.get(args.first()?).copied()) {
            Some(s) => bulk(s.to_string().as_bytes()),
            None => NIL.to_vec(),
        },
        "ZREM" => int(existing.map_or(0, |z| {
            args.iter().filter(|a| z.remove(*a).is_some()).count() as i64
        })),
        "ZCARD" => int(existing.map_or(0, |z| z.len() as i64)),
        "ZRANK" => {
            let m = args.first()?;
            match existing.and_then(|z| ordered(z).iter().position(|(x, _)| *x == m.as_slice())) {
                Some(r) => int(r as i64),
                None => NIL.to_vec(),
            }
        }
        "ZRANGE" => {
            let (start, stop) = (parse_int(args.first()?)?, parse_int(args.get(1)?)?);
            let with_scores = match args.get(2) {
                Some(a) if a.eq_ignore_ascii_case(b"WITHSCORES") => true,
                Some(_) => return None,
                None => false,
            };
            let Some(z) = existing else {
                return Some(b"*0\r\n".to_vec());
            };
            let all = ordered(z);
            let Some((a, b)) = range(all.len(), start, stop) else {
                return Some(b"*0\r\n".to_vec());
            };
            let items = &all[a..=b];
            let mut out =
                format!("*{}\r\n", items.len() * if with_scores { 2 } else { 1 }).into_bytes();
            for (m, s) in items {
                out.extend_from_slice(&bulk(m));
                if with_scores {
                    out.extend_from_slice(&bulk(s.to_string().as_bytes()));
                }
            }
            out
        }
        _ => return None,
    })
}

fn hash(
    colls: &mut BTreeMap<Vec<u8>, Coll>,
    key: &[u8],
    name: &str,
    args: &[Vec<u8>],
) -> Option<Vec<u8>> {
    let existing = match colls.get_mut(key) {
        Some(Coll::Hash(h)) => Some(h),
        _ => None,
    };
    Some(match name {
        "HSET" => {
            if args.is_empty() || !args.len().is_multiple_of(2) {
                return None;
            }
            let h = match colls
                .entry(key.to_vec())
                .or_insert_with(|| Coll::Hash(BTreeMap::new()))
            {
                Coll::Hash(h) => h,
                _ => return None,
            };
            let mut created = 0;
            for p in args.chunks(2) {
                if h.insert(p[0].clone(), p[1].clone()).is_none() {
                    created += 1;
                }
            }
            int(created)
        }
        "HGET" => match existing.and_then(|h| h.get(args.first()?)) {
            Some(v) => bulk(v),
            None => NIL.to_vec(),
        },
        "HDEL" => int(existing.map_or(0, |h| {
            args.iter().filter(|a| h.remove(*a).is_some()).count() as i64
        })),
        "HLEN" => int(existing.map_or(0, |h| h.len() as i64)),
        "HEXISTS" => {
            let f = args.first()?;
            int(i64::from(existing.is_some_and(|h| h.contains_key(f))))
        }
        "HINCRBY" => {
            let field = args.first()?.clone();
            let by = parse_int(args.get(1)?)?;
            let h = match colls
                .entry(key.to_vec())
                .or_insert_with(|| Coll::Hash(BTreeMap::new()))
            {
                Coll::Hash(h) => h,
                _ => return None,
            };
            let cur = match h.get(&field) {
                None => 0,
                Some(v) => match parse_int(v) {
                    Some(n) => n,
                    None => return Some(b"-ERR hash value is not an integer\r\n".to_vec()),
                },
            };
            let Some(next) = cur.checked_add(by) else {
                return Some(b"-ERR increment or decrement would overflow\r\n".to_vec());
            };
            h.insert(field, next.to_string().into_bytes());
            int(next)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(colls: &mut BTreeMap<Vec<u8>, Coll>, line: &str) -> String {
        let req: Vec<Vec<u8>> = line.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        let name = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        String::from_utf8(apply(colls, &name, &req).expect("modelled")).unwrap_or_default()
    }

    #[test]
    fn lists_as_redis() {
        let mut c = BTreeMap::new();
        assert_eq!(run(&mut c, "RPUSH l a b a c a"), ":5\r\n");
        assert_eq!(run(&mut c, "LREM l -2 a"), ":2\r\n");
        assert_eq!(
            run(&mut c, "LRANGE l 0 -1"),
            "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(run(&mut c, "LTRIM l 1 -1"), "+OK\r\n");
        assert_eq!(run(&mut c, "LPOP l 5"), "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
        assert!(c.is_empty(), "an emptied list is deleted");
        assert_eq!(run(&mut c, "LPOP l 1"), "*-1\r\n");
        assert_eq!(run(&mut c, "RPOP l"), "$-1\r\n");
    }

    #[test]
    fn zadd_flags_as_redis() {
        let mut c = BTreeMap::new();
        assert_eq!(run(&mut c, "ZADD z 1 a 2 b"), ":2\r\n");
        assert_eq!(run(&mut c, "ZADD z GT CH 1 a"), ":0\r\n");
        assert_eq!(run(&mut c, "ZADD z GT CH 3 a"), ":1\r\n");
        assert_eq!(run(&mut c, "ZADD z LT INCR 1 a"), "$-1\r\n");
        assert_eq!(run(&mut c, "ZADD z XX 5 c"), ":0\r\n");
        assert_eq!(
            run(&mut c, "ZRANGE z 0 -1 WITHSCORES"),
            "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            run(&mut c, "ZADD z NX XX 1 a"),
            "-ERR XX and NX options at the same time are not compatible\r\n"
        );
    }

    #[test]
    fn sets_hashes_and_wrongtype() {
        let mut c = BTreeMap::new();
        assert_eq!(run(&mut c, "SADD s a b"), ":2\r\n");
        assert_eq!(run(&mut c, "SREM s a x"), ":1\r\n");
        assert_eq!(run(&mut c, "SMISMEMBER s a b"), "*2\r\n:0\r\n:1\r\n");
        assert_eq!(
            run(&mut c, "HSET s f v"),
            String::from_utf8_lossy(WRONGTYPE)
        );
        assert_eq!(run(&mut c, "HINCRBY h f 5"), ":5\r\n");
        assert_eq!(run(&mut c, "HDEL h f g"), ":1\r\n");
        assert!(!c.contains_key(b"h".as_slice()));
    }
}
