//! DUMP and RESTORE payloads: one value in the RDB encoding, then the RDB version
//! (2 bytes LE) and a CRC64 of everything before it (8 bytes LE), as Redis's
//! `createDumpPayload` and `verifyDumpPayload`.

use super::decode::{read_value, Cur, Stop};
use super::encode::write_value;
use super::{crc64::crc64, LoadLimits, SeedSource, RDB_VERSION};
use crate::types::Value;

/// Why RESTORE refused a payload; `reply_text` is Redis's error for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    /// Shorter than the footer, a newer RDB version, or a CRC mismatch.
    VersionOrChecksum,
    /// The value does not parse (`detail` says where and why; Redis says only
    /// "Bad data format").
    BadData { offset: u64, detail: String },
}

impl RestoreError {
    /// The error reply, as Redis words it.
    pub fn reply_text(&self) -> &'static str {
        match self {
            RestoreError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            RestoreError::BadData { .. } => "ERR Bad data format",
        }
    }
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::VersionOrChecksum => f.write_str(self.reply_text()),
            RestoreError::BadData { offset, detail } => {
                write!(f, "{}: {detail} at offset {offset}", self.reply_text())
            }
        }
    }
}

/// DUMP's payload for `value`, strings LZF-compressed where they shrink (as under
/// the default `rdbcompression yes`).
pub fn dump_payload(value: &Value) -> Vec<u8> {
    dump_payload_with(value, true)
}

/// DUMP's payload with `rdbcompression` as configured (Redis's DUMP follows it).
pub fn dump_payload_with(value: &Value, compression: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, value, compression);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value a RESTORE payload holds, built in the encodings `limits` asks for.
/// Bytes between the value and the footer are ignored, as Redis does.
pub fn restore_payload(payload: &[u8], limits: &LoadLimits) -> Result<Value, RestoreError> {
    let body_len = payload
        .len()
        .checked_sub(10)
        .ok_or(RestoreError::VersionOrChecksum)?;
    let (body, footer) = payload.split_at(body_len);
    let (version, crc) = footer.split_at(2);
    let version = u16::from_le_bytes([
        version.first().copied().unwrap_or(0),
        version.get(1).copied().unwrap_or(0),
    ]);
    if version > RDB_VERSION {
        return Err(RestoreError::VersionOrChecksum);
    }
    let with_version = payload.get(..payload.len() - 8).unwrap_or_default();
    if crc64(0, with_version).to_le_bytes() != crc {
        return Err(RestoreError::VersionOrChecksum);
    }
    let mut cur = Cur::new(body);
    let bad = |offset: usize, detail: String| RestoreError::BadData {
        offset: offset as u64,
        detail,
    };
    let t = cur.u8().map_err(|_| bad(0, "empty payload".into()))?;
    if !super::decode::is_value_type(t) {
        return Err(bad(0, format!("unknown value type {t}")));
    }
    let mut seeds = SeedSource::new(limits.seeds);
    let value = read_value(&mut cur, t, 0, b"", limits, &mut seeds).map_err(|stop| match stop {
        Stop::Need(n) => bad(body.len(), format!("payload ends early ({n} bytes needed)")),
        Stop::Bad { at, message } => bad(at, message),
    })?;
    if value.is_empty_collection() {
        return Err(bad(0, "empty collection".into()));
    }
    Ok(value)
}
