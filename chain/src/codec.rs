//! The checked binary codec behind every canonical encoding in this crate.
//!
//! Fixed field order, big-endian integers, `u32` length prefixes for strings, byte strings
//! and lists. [`Reader`] never indexes blindly: short input and trailing bytes are errors.

use crate::error::{Error, MalformedKind, Result};

/// Appends canonical fields to a byte buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn fixed(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// A length as `u32`; lengths past `u32::MAX` cannot be encoded and are a caller fault.
    pub(crate) fn len(&mut self, n: usize) -> Result<()> {
        let n = u32::try_from(n).map_err(|_| {
            Error::InvalidArgument(format!("field of {n} bytes or items is too long to encode"))
        })?;
        self.buf.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) -> Result<()> {
        self.len(v.len())?;
        self.fixed(v);
        Ok(())
    }

    pub(crate) fn str(&mut self, v: &str) -> Result<()> {
        self.bytes(v.as_bytes())
    }

    pub(crate) fn strs(&mut self, v: &[String]) -> Result<()> {
        self.len(v.len())?;
        for s in v {
            self.str(s)?;
        }
        Ok(())
    }

    pub(crate) fn u64s(&mut self, v: &[u64]) -> Result<()> {
        self.len(v.len())?;
        for x in v {
            self.u64(*x);
        }
        Ok(())
    }
}

/// Reads canonical fields from a byte slice, with checked reads only.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// `what` names the structure in errors, e.g. "entry".
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { rest: bytes, what }
    }

    pub(crate) fn malformed(&self, why: impl Into<String>) -> Error {
        Error::malformed(self.what, why)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(Error::Malformed {
                what: self.what,
                kind: MalformedKind::Short {
                    needed: n,
                    remaining: self.rest.len(),
                },
            }),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let head = self.take(N)?;
        <[u8; N]>::try_from(head).map_err(|_| Error::Internal("take returned the wrong length"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    /// A `u32` length prefix. Callers never allocate from it unbounded: `take` checks byte
    /// lengths, and list readers cap their capacity by the bytes that are left.
    pub(crate) fn len(&mut self) -> Result<usize> {
        let n = self.u32()?;
        usize::try_from(n).map_err(|_| self.malformed(format!("length {n} does not fit")))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    pub(crate) fn string(&mut self) -> Result<String> {
        let raw = self.bytes()?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|e| self.malformed(format!("string is not UTF-8: {e}")))
    }

    pub(crate) fn strings(&mut self) -> Result<Vec<String>> {
        let n = self.len()?;
        // Do not trust `n` for allocation: every string takes at least 4 bytes.
        let mut out = Vec::with_capacity(n.min(self.rest.len() / 4));
        for _ in 0..n {
            out.push(self.string()?);
        }
        Ok(out)
    }

    pub(crate) fn u64s(&mut self) -> Result<Vec<u64>> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n.min(self.rest.len() / 8));
        for _ in 0..n {
            out.push(self.u64()?);
        }
        Ok(out)
    }

    /// Ends the read: any bytes left over are an error.
    pub(crate) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed {
                what: self.what,
                kind: MalformedKind::Trailing {
                    extra: self.rest.len(),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[0, 0, 0, 5, b'a'], "test");
        let err = r.string().unwrap_err();
        assert!(matches!(
            err,
            Error::Malformed {
                what: "test",
                kind: MalformedKind::Short {
                    needed: 5,
                    remaining: 1
                }
            }
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut r = Reader::new(&[1, 2], "test");
        assert_eq!(r.u8().unwrap(), 1);
        let err = r.finish().unwrap_err();
        assert!(matches!(
            err,
            Error::Malformed {
                kind: MalformedKind::Trailing { extra: 1 },
                ..
            }
        ));
    }

    #[test]
    fn huge_list_length_does_not_allocate_or_panic() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff], "test");
        assert!(matches!(
            r.strings().unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Short { .. },
                ..
            }
        ));
    }

    #[test]
    fn bad_utf8_is_rejected() {
        let mut r = Reader::new(&[0, 0, 0, 1, 0xff], "test");
        assert!(matches!(
            r.string().unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Invalid(_),
                ..
            }
        ));
    }

    #[test]
    fn writer_and_reader_round_trip() {
        let mut w = Writer::new();
        w.u8(7);
        w.u64(u64::MAX - 1);
        w.str("bj_hf").unwrap();
        w.strs(&["a".into(), "".into()]).unwrap();
        w.u64s(&[1, 2]).unwrap();
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u64().unwrap(), u64::MAX - 1);
        assert_eq!(r.string().unwrap(), "bj_hf");
        assert_eq!(r.strings().unwrap(), vec!["a".to_string(), String::new()]);
        assert_eq!(r.u64s().unwrap(), vec![1, 2]);
        r.finish().unwrap();
    }
}
