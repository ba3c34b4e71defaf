//! Round trips and hostile input for the codec as a whole.

use super::*;
use crate::types::StrValue;

fn s(v: &str) -> Value {
    Value::Str(StrValue::from_set(v.as_bytes()))
}

/// Writes a small file: aux, two databases, strings with and without TTL.
fn sample_file(opts: RdbOptions) -> Vec<u8> {
    let mut w = RdbWriter::new(opts);
    let mut out = Vec::new();
    w.header(
        &[
            ("redis-ver", AuxValue::Str(b"7.0.15")),
            ("redis-bits", AuxValue::Int(64)),
        ],
        &mut out,
    );
    w.select_db(0, 3, 1, &mut out);
    let long = "x".repeat(100);
    let values = [s("hello"), s("12345"), s(&long)];
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        w.entry(
            &KeyRecord {
                key: key.as_bytes(),
                value: v,
                expire_ms: (i == 1).then_some(1_800_000_000_000),
                lru_idle_secs: None,
                lfu_freq: None,
            },
            &mut out,
        );
    }
    w.select_db(3, 1, 0, &mut out);
    w.entry(
        &KeyRecord {
            key: b"other",
            value: &s("-7"),
            expire_ms: None,
            lru_idle_secs: Some(42),
            lfu_freq: Some(9),
        },
        &mut out,
    );
    w.finish(&mut out);
    out
}

fn read_all(bytes: &[u8], chunk: usize) -> Result<Vec<RdbItem>, RdbError> {
    let mut r = RdbReader::new(LoadLimits::default());
    let mut items = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        r.feed(c);
        while let Some(item) = r.next()? {
            items.push(item);
        }
    }
    r.end_of_input();
    while let Some(item) = r.next()? {
        items.push(item);
    }
    Ok(items)
}

#[test]
fn strings_round_trip_in_any_chunking() {
    let bytes = sample_file(RdbOptions::default());
    assert!(bytes.starts_with(b"REDIS0010"));
    let whole = read_all(&bytes, bytes.len()).unwrap();
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(read_all(&bytes, chunk).unwrap(), whole);
    }
    assert_eq!(whole.len(), 2 + 2 + 3 + 2 + 1 + 1);
    assert_eq!(
        whole[0],
        RdbItem::Aux {
            key: b"redis-ver".to_vec(),
            value: b"7.0.15".to_vec()
        }
    );
    assert!(whole.contains(&RdbItem::Key {
        db: 0,
        key: b"k1".to_vec(),
        value: s("12345"),
        expire_ms: Some(1_800_000_000_000),
        lru_idle_secs: None,
        lfu_freq: None
    }));
    assert!(whole.contains(&RdbItem::Key {
        db: 3,
        key: b"other".to_vec(),
        value: s("-7"),
        expire_ms: None,
        lru_idle_secs: Some(42),
        lfu_freq: Some(9)
    }));
    assert_eq!(whole.last(), Some(&RdbItem::End));
}

#[test]
fn compression_and_checksum_options() {
    let compressed = sample_file(RdbOptions::default());
    let plain = sample_file(RdbOptions {
        compression: false,
        checksum: false,
    });
    assert!(plain.len() > compressed.len());
    assert_eq!(plain.get(plain.len() - 8..), Some(&[0u8; 8][..]));
    assert_eq!(
        read_all(&plain, 5).unwrap(),
        read_all(&compressed, 5).unwrap()
    );
}

#[test]
fn consumed_bytes_stops_at_the_footer() {
    let mut bytes = sample_file(RdbOptions::default());
    let rdb_len = bytes.len() as u64;
    bytes.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let mut r = RdbReader::new(LoadLimits::default());
    r.feed(&bytes);
    while let Some(item) = r.next().unwrap() {
        if item == RdbItem::End {
            break;
        }
    }
    assert_eq!(r.consumed_bytes(), rdb_len);
    assert_eq!(r.next().unwrap(), None);
}

#[test]
fn crc_mismatch_is_refused_with_offset() {
    let mut bytes = sample_file(RdbOptions::default());
    // Flip a byte inside the "hello" value: still parses, the checksum differs.
    let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
    bytes[at] = b'j';
    let err = read_all(&bytes, 16).unwrap_err();
    assert!(err.message.starts_with("Wrong RDB checksum"), "{err}");
    assert_eq!(err.offset, bytes.len() as u64 - 8);
    assert!(err
        .to_string()
        .ends_with(&format!("at offset {}", bytes.len() - 8)));
    // With rdbchecksum off the loader does not look.
    let mut r = RdbReader::new(LoadLimits {
        verify_checksum: false,
        ..LoadLimits::default()
    });
    r.feed(&bytes);
    r.end_of_input();
    while let Some(item) = r.next().unwrap() {
        if item == RdbItem::End {
            break;
        }
    }
}

#[cfg(feature = "mutants")]
#[test]
fn crc_check_skipped_mutant_accepts_a_corrupt_file() {
    use crate::mutants::{Mutant, Mutants};
    let mut bytes = sample_file(RdbOptions::default());
    let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
    bytes[at] = b'j';
    let mut r = RdbReader::new(LoadLimits::default());
    r.set_mutants(Mutants {
        active: Some(Mutant::RdbCrcCheckSkipped),
    });
    r.feed(&bytes);
    r.end_of_input();
    let mut ended = false;
    while let Some(item) = r.next().expect("the mutant skips the CRC check") {
        ended |= item == RdbItem::End;
    }
    assert!(ended);
}

#[test]
fn truncation_is_an_error_at_end_of_input() {
    let bytes = sample_file(RdbOptions::default());
    for cut in [0, 5, 9, 20, bytes.len() - 9, bytes.len() - 1] {
        let err = read_all(&bytes[..cut], 4).unwrap_err();
        assert!(
            err.message.contains("Unexpected EOF") || err.message.contains("signature"),
            "{err}"
        );
        assert_eq!(err.offset, cut as u64);
    }
}

#[test]
fn versions_and_signature() {
    let mut bytes = sample_file(RdbOptions::default());
    bytes[5..9].copy_from_slice(b"0011");
    let err = read_all(&bytes, 100).unwrap_err();
    assert_eq!(err.message, "Can't handle RDB format version 11");
    bytes[0] = b'X';
    let err = read_all(&bytes, 100).unwrap_err();
    assert_eq!(err.message, "Wrong signature trying to load DB from file");
}

#[test]
fn huge_length_prefix_allocates_nothing() {
    // A string claiming 2^60 bytes: the reader waits for them and never reserves.
    let mut bytes = b"REDIS0010".to_vec();
    bytes.push(0); // string type
    bytes.push(1);
    bytes.push(b'k');
    bytes.push(0x81);
    bytes.extend_from_slice(&(1u64 << 60).to_be_bytes());
    bytes.extend_from_slice(b"abc");
    let mut r = RdbReader::new(LoadLimits::default());
    r.feed(&bytes);
    assert_eq!(r.next().unwrap(), None);
    r.end_of_input();
    let err = r.next().unwrap_err();
    assert!(err.message.contains("Unexpected EOF"));
}

#[test]
fn dump_payload_matches_redis_bytes() {
    // DUMP of `SET k <30 x 'a'>` on Redis 7.0.15.
    let v = s(&"a".repeat(30));
    let expect = b"\x00\xc3\t\x1e\x01aa\xe0\x11\x00\x01aa\n\x00Es|\xbb+d{\xbb";
    assert_eq!(dump_payload(&v), expect.to_vec());
    assert_eq!(restore_payload(expect, &LoadLimits::default()).unwrap(), v);
    let mut bad = expect.to_vec();
    bad[3] ^= 1;
    assert_eq!(
        restore_payload(&bad, &LoadLimits::default()),
        Err(RestoreError::VersionOrChecksum)
    );
}
