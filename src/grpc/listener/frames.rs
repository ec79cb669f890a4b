//! What a client sends, read as it passes by no further than the frame
//! headers: after the 24-byte connection preface, HTTP/2 is a sequence of
//! frames, each a 9-byte header (payload length, type, flags, stream) and
//! its payload. That is enough to tell when the client has done its part of
//! the handshake (the preface and its first frame header) and when it sends
//! a PING of its own, which is how a client says "keep this connection"
//! while its only calls are health `Watch` streams. hyper parses the frames
//! for real; a malformed stream is its to refuse, and here only means the
//! headers are read at the wrong places, which can do no harm.
//!
//! This is the gRPC listener's [`Handshake`] rule. The REST face does not
//! use it: its handshake is the head of a first request, and a REST
//! connection with no request in progress is idle whatever the client
//! sends, PINGs included (it has no long calls to keep).

use crate::net::{Activity, Handshake};

/// The connection preface's length: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
const PREFACE_LEN: usize = 24;
/// A frame header's length.
const HEADER_LEN: usize = 9;
/// The PING frame type (RFC 9113, section 6.7).
const PING: u8 = 0x6;
/// The flag that makes a PING the answer to one the other side sent.
const ACK: u8 = 0x1;

/// Where in the client's byte stream the scanner is (public only so that it
/// can be named in [`Connection`](super::Connection); the module is
/// private).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameScanner {
    state: State,
    /// Set once the first frame header after the preface is complete.
    handshake_done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Inside the preface, with this many bytes of it still to come.
    Preface(usize),
    /// Inside a frame header, with its first `filled` bytes in `header`.
    Header {
        header: [u8; HEADER_LEN],
        filled: usize,
    },
    /// Inside a payload, with this many bytes of it still to come.
    Payload(usize),
}

impl Default for FrameScanner {
    fn default() -> Self {
        Self {
            state: State::Preface(PREFACE_LEN),
            handshake_done: false,
        }
    }
}

impl Handshake for FrameScanner {
    /// Reads the next bytes the client sent; true when they complete the
    /// header of a PING the client started (not the ACK of the server's).
    fn scan(&mut self, mut bytes: &[u8]) -> bool {
        let mut client_ping = false;
        while !bytes.is_empty() {
            match &mut self.state {
                State::Preface(left) | State::Payload(left) => {
                    let skipped = (*left).min(bytes.len());
                    *left -= skipped;
                    bytes = &bytes[skipped..];
                    if *left == 0 {
                        self.state = State::Header {
                            header: [0; HEADER_LEN],
                            filled: 0,
                        };
                    }
                }
                State::Header { header, filled } => {
                    let taken = (HEADER_LEN - *filled).min(bytes.len());
                    header[*filled..*filled + taken].copy_from_slice(&bytes[..taken]);
                    *filled += taken;
                    bytes = &bytes[taken..];
                    if *filled == HEADER_LEN {
                        let header = *header;
                        self.handshake_done = true;
                        client_ping |= header[3] == PING && header[4] & ACK == 0;
                        let length = usize::from(header[0]) << 16
                            | usize::from(header[1]) << 8
                            | usize::from(header[2]);
                        self.state = State::Payload(length);
                    }
                }
            }
        }
        client_ping
    }

    /// True once the client has sent the preface and a whole frame header
    /// (under TLS, once decrypted: the TLS handshake before them runs
    /// against the same deadline). A client that sends them and then
    /// stalls is left to the idle timeout.
    fn done(&self, _activity: &Activity) -> bool {
        self.handshake_done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8; PREFACE_LEN] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut frame = vec![length[1], length[2], length[3], kind, flags];
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    fn conversation() -> (Vec<u8>, Vec<bool>) {
        let settings = frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]);
        let settings_ack = frame(0x4, ACK, 0, &[]);
        // A HEADERS frame whose payload happens to hold a PING header.
        let headers = frame(0x1, 0x4, 1, &frame(PING, 0, 0, &[0; 8]));
        let ping_ack = frame(PING, ACK, 0, &[7; 8]);
        let ping = frame(PING, 0, 0, &[9; 8]);
        let data = frame(0x0, 0x1, 1, &[0; 300]);
        let frames = [
            (settings, false),
            (settings_ack, false),
            (headers, false),
            (ping_ack, false),
            (ping, true),
            (data, false),
        ];
        let mut bytes = PREFACE.to_vec();
        let mut pings = Vec::new();
        for (frame, is_ping) in frames {
            bytes.extend_from_slice(&frame);
            pings.push(is_ping);
        }
        (bytes, pings)
    }

    #[test]
    fn only_a_ping_the_client_started_is_a_ping_and_payloads_are_skipped() {
        let (bytes, pings) = conversation();
        let mut scanner = FrameScanner::default();
        assert!(scanner.scan(&bytes));
        // Frame by frame, the one PING is found where it is.
        let mut scanner = FrameScanner::default();
        assert!(!scanner.scan(PREFACE));
        let mut at = PREFACE_LEN;
        let mut seen = Vec::new();
        while at < bytes.len() {
            let length = usize::from(bytes[at + 2]) | usize::from(bytes[at + 1]) << 8;
            let end = at + HEADER_LEN + length;
            seen.push(scanner.scan(&bytes[at..end]));
            at = end;
        }
        assert_eq!(seen, pings);
    }

    #[test]
    fn bytes_may_come_in_any_pieces() {
        let (bytes, _) = conversation();
        for piece in [1, 2, 5, 9, 10, 33, 100] {
            let mut scanner = FrameScanner::default();
            let pings = bytes
                .chunks(piece)
                .filter(|chunk| scanner.scan(chunk))
                .count();
            assert_eq!(pings, 1, "in pieces of {piece}");
            assert_eq!(
                scanner.state,
                State::Header {
                    header: [0; 9],
                    filled: 0
                }
            );
        }
    }

    #[test]
    fn the_handshake_is_done_with_the_first_frame_header_after_the_preface() {
        let mut scanner = FrameScanner::default();
        scanner.scan(PREFACE);
        assert!(!scanner.done(&Activity::new()));
        let settings = frame(0x4, 0, 0, &[]);
        scanner.scan(&settings[..8]);
        assert!(!scanner.done(&Activity::new()));
        scanner.scan(&settings[8..]);
        assert!(scanner.done(&Activity::new()));
    }

    #[test]
    fn garbage_is_read_without_panicking() {
        let mut scanner = FrameScanner::default();
        scanner.scan(&[0xff; 24 + 9]);
        assert_eq!(scanner.state, State::Payload(0xff_ffff));
        scanner.scan(&[0; 1000]);
        assert_eq!(scanner.state, State::Payload(0xff_ffff - 1000));
    }
}
