//! `KeyBytes`: a key as its slot stores it, 24 bytes that also carry the key's access
//! field (24 bits, `super::evict`) and a "has a TTL" bit, so a slot is key + value
//! and nothing else. Inline up to 19 bytes, on the heap beyond. It never allocates
//! for an inline key and never reads anything but its own bytes.

use crate::malloc_model::chunk_bytes;
use crate::types::SmallBytes;

/// Key bytes stored inline, without a heap allocation.
pub const KEY_INLINE_CAP: usize = 19;
/// The access field's bits (Redis's robj `lru` is 24 bits wide).
const ACCESS_MASK: u32 = (1 << 24) - 1;
/// In `meta`: the key has a TTL (its expire time is in the database's TTL table).
const TTL_BIT: u8 = 0x80;
/// In `meta` of an inline key: the length.
const LEN_MASK: u8 = 0x1f;

#[derive(Clone)]
pub enum KeyBytes {
    Inline {
        meta: u8,
        access: [u8; 3],
        buf: [u8; KEY_INLINE_CAP],
    },
    Heap {
        meta: u8,
        access: [u8; 3],
        data: Box<[u8]>,
    },
}

const _: () = assert!(std::mem::size_of::<KeyBytes>() == 24);
const _: () = assert!(KEY_INLINE_CAP <= LEN_MASK as usize);

fn pack_access(access: u32) -> [u8; 3] {
    let [a, b, c, _] = (access & ACCESS_MASK).to_le_bytes();
    [a, b, c]
}

impl KeyBytes {
    /// A key with access 0 and no TTL.
    pub fn new(data: &[u8]) -> Self {
        if data.len() <= KEY_INLINE_CAP {
            let mut buf = [0u8; KEY_INLINE_CAP];
            if let Some(dst) = buf.get_mut(..data.len()) {
                dst.copy_from_slice(data);
            }
            KeyBytes::Inline {
                meta: data.len() as u8,
                access: [0; 3],
                buf,
            }
        } else {
            KeyBytes::Heap {
                meta: 0,
                access: [0; 3],
                data: data.into(),
            }
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { meta, buf, .. } => {
                buf.get(..usize::from(meta & LEN_MASK)).unwrap_or(buf)
            }
            KeyBytes::Heap { data, .. } => data,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            KeyBytes::Inline { .. } => 0,
            KeyBytes::Heap { data, .. } => chunk_bytes(data.len()),
        }
    }

    /// The access field (24 bits).
    #[inline]
    pub fn access(&self) -> u32 {
        let (KeyBytes::Inline { access, .. } | KeyBytes::Heap { access, .. }) = self;
        let [a, b, c] = *access;
        u32::from_le_bytes([a, b, c, 0])
    }

    /// Stores the access field; bits above the 24th are dropped (none are ever set).
    #[inline]
    pub fn set_access(&mut self, value: u32) {
        debug_assert!(value <= ACCESS_MASK, "access {value:#x} past 24 bits");
        let (KeyBytes::Inline { access, .. } | KeyBytes::Heap { access, .. }) = self;
        *access = pack_access(value);
    }

    #[inline]
    pub fn has_ttl(&self) -> bool {
        let (KeyBytes::Inline { meta, .. } | KeyBytes::Heap { meta, .. }) = self;
        *meta & TTL_BIT != 0
    }

    #[inline]
    pub fn set_has_ttl(&mut self, on: bool) {
        let (KeyBytes::Inline { meta, .. } | KeyBytes::Heap { meta, .. }) = self;
        if on {
            *meta |= TTL_BIT;
        } else {
            *meta &= !TTL_BIT;
        }
    }

    /// The key as an owned `SmallBytes` (a heap key keeps its allocation).
    pub fn into_small(self) -> SmallBytes {
        match self {
            KeyBytes::Inline { .. } => SmallBytes::new(self.as_bytes()),
            KeyBytes::Heap { data, .. } => SmallBytes::Heap(data),
        }
    }
}

impl PartialEq for KeyBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_access_and_ttl_bit_are_independent() {
        for n in [0usize, 1, 18, 19, 20, 22, 23, 100] {
            let data: Vec<u8> = (0..n).map(|i| i as u8 ^ 0x5a).collect();
            let mut k = KeyBytes::new(&data);
            assert_eq!(k.as_bytes(), &data[..]);
            let heap = if n <= KEY_INLINE_CAP {
                0
            } else {
                chunk_bytes(n)
            };
            assert_eq!(k.heap_bytes(), heap);
            assert_eq!((k.access(), k.has_ttl()), (0, false));
            k.set_access(ACCESS_MASK);
            k.set_has_ttl(true);
            assert_eq!(k.as_bytes(), &data[..], "flags left the bytes alone");
            assert_eq!((k.access(), k.has_ttl()), (ACCESS_MASK, true));
            k.set_access(0x12_3456);
            k.set_has_ttl(false);
            assert_eq!((k.access(), k.has_ttl()), (0x12_3456, false));
            assert_eq!(k.as_bytes(), &data[..]);
            assert_eq!(k.clone().into_small().as_bytes(), &data[..]);
        }
    }
}
