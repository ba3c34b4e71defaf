//! `SmallBytes`: a byte string in 24 bytes, inline up to 22 bytes, on the heap beyond.
//! Used for keys and small string values, which dominate memory in a keyspace.

use crate::malloc_model::chunk_bytes;

pub const INLINE_CAP: usize = 22;

#[derive(Clone)]
pub enum SmallBytes {
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub fn new(data: &[u8]) -> Self {
        if data.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            if let Some(dst) = buf.get_mut(..data.len()) {
                dst.copy_from_slice(data);
            }
            SmallBytes::Inline {
                len: data.len() as u8,
                buf,
            }
        } else {
            SmallBytes::Heap(data.into())
        }
    }

    pub fn from_vec(data: Vec<u8>) -> Self {
        if data.len() <= INLINE_CAP {
            Self::new(&data)
        } else {
            SmallBytes::Heap(data.into_boxed_slice())
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or(buf),
            SmallBytes::Heap(b) => b,
        }
    }

    /// The heap chunk behind a long string (`malloc_model`), 0 inline.
    pub fn heap_bytes(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => chunk_bytes(b.len()),
        }
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_roundtrip() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        for n in [0, 1, 22, 23, 100] {
            let data = vec![7u8; n];
            assert_eq!(SmallBytes::new(&data).as_bytes(), &data[..]);
            assert_eq!(SmallBytes::from_vec(data.clone()).as_bytes(), &data[..]);
        }
    }
}
