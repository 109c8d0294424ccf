//! Reading newline-terminated frames with a length limit, without ever buffering more
//! than the limit.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What one call of [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRead {
    /// A line (in the buffer, without its line ending).
    Line,
    /// A line longer than the limit; the buffer holds its first `max` bytes, the rest
    /// was skipped. `len` is its full length.
    TooLong {
        /// Full length of the line, without its line ending.
        len: usize,
    },
    /// End of stream and nothing buffered.
    Eof,
}

/// Reads the next line (up to `\n`; a trailing `\r` is removed) into `buf` (cleared
/// first), keeping at most `max` bytes. A last line without `\n` counts as a line.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    buf.clear();
    let mut len = 0usize;
    let mut last_cr = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            if len == 0 {
                return Ok(LineRead::Eof);
            }
            break;
        }
        let (chunk, used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if !chunk.is_empty() {
            last_cr = chunk.last() == Some(&b'\r');
        }
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        len += chunk.len();
        r.consume(used);
        if done {
            break;
        }
    }
    if last_cr {
        len -= 1;
        buf.truncate(len);
    }
    if len > max {
        Ok(LineRead::TooLong { len })
    } else {
        Ok(LineRead::Line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn lines_limits_and_eof() {
        let input: &[u8] = b"##0001a\r\nshort\n0123456789ABCDEF\nlast";
        // A tiny buffer makes lines span several reads.
        let mut r = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"##0001a");
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            LineRead::TooLong { len: 16 }
        );
        assert_eq!(buf, b"0123456789");
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"last");
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            LineRead::Eof
        );
        // Exactly the limit, with CRLF, is fine.
        let mut r = BufReader::new(&b"0123456789\r\n"[..]);
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"0123456789");
    }
}
