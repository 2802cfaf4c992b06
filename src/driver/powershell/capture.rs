//! Reading what the remote side prints without trusting how much it prints: a server streaming
//! gigabytes costs a bounded amount of memory. What matters is kept: the start of the output
//! (where the script's "started" line is) and its end (where its one-line result is).

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::script::STARTED;

/// How much of a stream is kept: its first `head` bytes and its last `tail` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub head: usize,
    pub tail: usize,
}

/// Standard output: the first 64 KiB (the "started" line) and the last 8 MiB, which holds the
/// observe report of any deployment SfB supports many times over.
pub const STDOUT_CAPS: Caps = Caps {
    head: 64 * 1024,
    tail: 8 * 1024 * 1024,
};

/// Standard error: enough for PowerShell's error record and ssh's own messages, at either end.
pub const STDERR_CAPS: Caps = Caps {
    head: 16 * 1024,
    tail: 64 * 1024,
};

/// One stream as read: its head, its tail, and how much there was in all.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    caps: Option<Caps>,
    total: u64,
    peak: usize,
}

impl Captured {
    fn new(caps: Caps) -> Self {
        Captured {
            caps: Some(caps),
            ..Captured::default()
        }
    }

    /// Adds what was just read, dropping the middle once both ends are full.
    fn push(&mut self, mut chunk: &[u8]) {
        let Some(caps) = self.caps else { return };
        self.total = self.total.saturating_add(chunk.len() as u64);
        let room = caps.head.saturating_sub(self.head.len());
        let into_head = room.min(chunk.len());
        self.head.extend_from_slice(&chunk[..into_head]);
        chunk = &chunk[into_head..];
        self.tail.extend(chunk);
        let excess = self.tail.len().saturating_sub(caps.tail);
        self.tail.drain(..excess);
        self.peak = self
            .peak
            .max(self.head.len().saturating_add(self.tail.len()));
    }

    /// Bytes seen in all, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether bytes between the head and the tail were dropped.
    pub fn truncated(&self) -> bool {
        self.total > (self.head.len().saturating_add(self.tail.len())) as u64
    }

    /// The most bytes held at once while reading.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Whether the script's first line says it started, with or without a UTF-8 byte-order
    /// mark before it (Windows PowerShell 5.1 writes one on some hosts, whatever the script
    /// sets) and with or without a carriage return after it.
    pub fn started(&self) -> bool {
        String::from_utf8_lossy(&self.head).lines().any(|l| {
            l.trim_start_matches('\u{feff}')
                .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                == STARTED
        })
    }

    /// The text kept, as lines a reader can trust: when the middle was dropped, the partial
    /// line where the tail begins is dropped too, so no fragment of a line passes for a line.
    pub fn text(&self) -> String {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        if !self.truncated() {
            let mut all = self.head.clone();
            all.extend_from_slice(&tail);
            return String::from_utf8_lossy(&all).into_owned();
        }
        let whole_lines = match tail.iter().position(|b| *b == b'\n') {
            Some(end) => &tail[end.saturating_add(1)..],
            None => &[][..],
        };
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(whole_lines));
        text
    }
}

/// Reads `stream` to its end, keeping what `caps` allow. A read error ends the stream: what was
/// read so far is what the remote side said.
pub async fn capture<R: AsyncRead + Unpin>(mut stream: R, caps: Caps) -> Captured {
    let mut captured = Captured::new(caps);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => captured.push(&buffer[..n]),
        }
    }
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(caps: Caps, chunks: &[&[u8]]) -> Captured {
        let mut c = Captured::new(caps);
        for chunk in chunks {
            c.push(chunk);
        }
        c
    }

    #[test]
    fn the_middle_is_dropped_with_the_partial_line_at_its_edge() {
        let caps = Caps { head: 4, tail: 8 };
        let c = captured(caps, &[b"ab\ncd", b"efgh-partial\nlast\n"]);
        assert!(c.truncated());
        assert_eq!(c.total(), 23);
        assert_eq!(c.text(), "ab\nc\nlast\n");
        assert!(c.peak() <= caps.head + caps.tail);
    }

    #[test]
    fn output_within_the_caps_is_kept_whole() {
        let c = captured(Caps { head: 4, tail: 8 }, &[b"ab\ncd", b"ef\n"]);
        assert!(!c.truncated());
        assert_eq!(c.text(), "ab\ncdef\n");
    }

    #[test]
    fn the_started_line_is_found_behind_a_byte_order_mark() {
        let caps = STDOUT_CAPS;
        for out in [
            "sfb-dr: started\n",
            "\u{feff}sfb-dr: started\r\n",
            "\u{feff}sfb-dr: started",
        ] {
            assert!(captured(caps, &[out.as_bytes()]).started(), "{out:?}");
        }
        assert!(!captured(caps, &[b"sfb-dr: start\n"]).started());
    }
}
