//! A file's bytes in an artifact: held in memory, or at a place in the
//! spool a commit's archive was written to (an unlinked temporary file),
//! read back only when the file is sent. A deploy that sends a file or two
//! then holds a file or two, whatever the size of the release.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// In memory: a slice of a tar ferry holds, or a file read whole.
    Held(Bytes),
    /// `len` bytes at `at` in the spool.
    Spooled {
        spool: Arc<File>,
        at: u64,
        len: usize,
    },
}

impl Body {
    /// How many bytes it is.
    pub(crate) fn len(&self) -> usize {
        match self {
            Body::Held(bytes) => bytes.len(),
            Body::Spooled { len, .. } => *len,
        }
    }

    /// The bytes, read from the spool if they are there.
    pub(crate) fn read(&self) -> std::io::Result<Bytes> {
        match self {
            Body::Held(bytes) => Ok(bytes.clone()),
            Body::Spooled { spool, at, len } => {
                let mut bytes = vec![0; *len];
                spool.read_exact_at(&mut bytes, *at)?;
                Ok(bytes.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_spooled_body_is_read_from_its_place() {
        let mut spool = tempfile::tempfile().unwrap();
        spool.write_all(b"headerHELLOtrailer").unwrap();
        let body = Body::Spooled {
            spool: Arc::new(spool),
            at: 6,
            len: 5,
        };
        assert_eq!(&body.read().unwrap()[..], b"HELLO");
        let short = Body::Spooled {
            spool: match &body {
                Body::Spooled { spool, .. } => spool.clone(),
                Body::Held(_) => unreachable!(),
            },
            at: 15,
            len: 5,
        };
        assert!(short.read().is_err(), "past the end is an error, not zeros");
    }
}
