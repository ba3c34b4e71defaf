//! The reference model: Redis string and keyspace semantics written the plainest way
//! (a sorted map of key -> (bytes, expire_at_ms)), judged against every reply of a
//! single-node run. It must stay obviously correct, never fast.

use std::collections::BTreeMap;

pub struct Model {
    keys: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
}

fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

fn parse_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

impl Model {
    pub fn new(_start_wall_ms: u64) -> Self {
        Model {
            keys: BTreeMap::new(),
        }
    }

    fn live(&mut self, now_ms: u64, key: &[u8]) -> Option<&mut Vec<u8>> {
        let expired = matches!(self.keys.get(key), Some((_, Some(at))) if now_ms > *at);
        if expired {
            self.keys.remove(key);
        }
        self.keys.get_mut(key).map(|(v, _)| v)
    }

    /// Forgets keys the node may have removed by active expiry: a key whose TTL passed
    /// at some wall time the node was handed (`max_wall_ms`) and that the node no
    /// longer holds. After a backward clock jump such a key would otherwise look live
    /// to the model. Returns how many keys were forgotten.
    pub fn sync_expired(&mut self, max_wall_ms: u64, node_has: impl Fn(&[u8]) -> bool) -> usize {
        let gone: Vec<Vec<u8>> = self
            .keys
            .iter()
            .filter(|(k, (_, at))| matches!(at, Some(at) if max_wall_ms > *at) && !node_has(k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.keys.remove(k);
        }
        gone.len()
    }

    /// The exact reply bytes Redis gives, or None for a request the model does not know.
    pub fn apply(&mut self, now_ms: u64, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let name = String::from_utf8_lossy(req.first()?).to_ascii_uppercase();
        let key = req.get(1)?.clone();
        Some(match name.as_str() {
            "GET" => match self.live(now_ms, &key) {
                Some(v) => bulk(v),
                None => b"$-1\r\n".to_vec(),
            },
            "SET" => {
                let value = req.get(2)?.clone();
                let expire = match req.get(3) {
                    Some(opt) if opt.eq_ignore_ascii_case(b"PX") => {
                        Some(now_ms + parse_int(req.get(4)?)? as u64)
                    }
                    Some(_) => return None,
                    None => None,
                };
                self.keys.insert(key, (value, expire));
                b"+OK\r\n".to_vec()
            }
            "INCR" | "INCRBY" => {
                let by = if name == "INCR" {
                    1
                } else {
                    parse_int(req.get(2)?)?
                };
                let current = match self.live(now_ms, &key) {
                    None => 0,
                    Some(v) => match parse_int(v) {
                        Some(n) => n,
                        None => {
                            return Some(
                                b"-ERR value is not an integer or out of range\r\n".to_vec(),
                            )
                        }
                    },
                };
                let Some(next) = current.checked_add(by) else {
                    return Some(b"-ERR increment or decrement would overflow\r\n".to_vec());
                };
                let ttl = self.keys.get(&key).and_then(|(_, t)| *t);
                self.keys.insert(key, (next.to_string().into_bytes(), ttl));
                int(next)
            }
            "DEL" => int(i64::from(
                self.live(now_ms, &key).is_some() && self.keys.remove(&key).is_some(),
            )),
            "EXISTS" => int(i64::from(self.live(now_ms, &key).is_some())),
            "APPEND" => {
                let extra = req.get(2)?;
                match self.live(now_ms, &key) {
                    Some(v) => {
                        v.extend_from_slice(extra);
                        int(v.len() as i64)
                    }
                    None => {
                        self.keys.insert(key, (extra.clone(), None));
                        int(extra.len() as i64)
                    }
                }
            }
            _ => return None,
        })
    }
}
