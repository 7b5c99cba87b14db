//! CSV input with `#` comment lines and blank lines removed before the `csv` reader sees it,
//! so that the line numbers it reports can be mapped back to the file's own (and a leading
//! UTF-8 byte order mark dropped).
//!
//! (The `csv` crate's own comment and blank-line skipping reports a record that follows
//! skipped lines at the line where skipping began.) A field may therefore not span a line
//! that is blank or starts with `#`; inventory and coverage files have no multi-line fields.

use std::io::{BufRead, Read};

/// A reader that drops comment and blank lines and remembers where they were.
#[derive(Debug)]
pub struct CommentFilter<R> {
    inner: R,
    line: Vec<u8>,
    at: usize,
    lines_in: u64,
    lines_out: u64,
    /// `(first output line, offset)`: from that output line on, input line = output line +
    /// offset. Grows only where lines were dropped.
    breaks: Vec<(u64, u64)>,
}

impl<R: BufRead> CommentFilter<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> CommentFilter<R> {
        CommentFilter {
            inner,
            line: Vec::new(),
            at: 0,
            lines_in: 0,
            lines_out: 0,
            breaks: Vec::new(),
        }
    }

    /// The input line of output line `line` (both 1-based).
    pub fn input_line(&self, line: u64) -> u64 {
        let i = self.breaks.partition_point(|(first, _)| *first <= line);
        match i {
            0 => line,
            i => line + self.breaks[i - 1].1,
        }
    }

    /// Reads the next kept line into `self.line`; false at the end.
    fn next_line(&mut self) -> std::io::Result<bool> {
        loop {
            self.line.clear();
            self.at = 0;
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(false);
            }
            self.lines_in += 1;
            if self.lines_in == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
                // A UTF-8 byte order mark would otherwise become part of the first header.
                self.line.drain(..3);
            }
            let content = self.line.trim_ascii();
            if content.is_empty() || self.line.first() == Some(&b'#') {
                continue;
            }
            self.lines_out += 1;
            let offset = self.lines_in - self.lines_out;
            if self.breaks.last().map_or(0, |b| b.1) != offset {
                self.breaks.push((self.lines_out, offset));
            }
            return Ok(true);
        }
    }
}

impl<R: BufRead> Read for CommentFilter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.line.len() && !self.next_line()? {
            return Ok(0);
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_map_back() {
        let text = "a,b\n# comment\n1,2\n\n  \n3,4\n#x\n5,6";
        let mut f = CommentFilter::new(text.as_bytes());
        let mut out = String::new();
        f.read_to_string(&mut out).unwrap();
        assert_eq!(out, "a,b\n1,2\n3,4\n5,6");
        let map: Vec<u64> = (1..=4).map(|l| f.input_line(l)).collect();
        assert_eq!(map, vec![1, 3, 6, 8]);
    }

    #[test]
    fn byte_order_mark_is_dropped() {
        let mut out = String::new();
        CommentFilter::new("\u{feff}a,b\n1,2\n".as_bytes())
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a,b\n1,2\n");
    }
}
