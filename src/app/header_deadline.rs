//! A bound on how long a client may take to send a request's head. hyper has one
//! (`header_read_timeout`) but poem does not expose it, and poem's idle timeout restarts on every
//! byte, so without this a client trickling one header byte a minute would hold its connection,
//! and with thousands of them the file descriptors, forever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Wraps an acceptor so that each request head must arrive within `limit` of its first byte.
pub struct HeaderDeadline<A> {
    inner: A,
    limit: Duration,
}

impl<A> HeaderDeadline<A> {
    /// Applies `limit` to every connection `inner` accepts.
    pub fn new(inner: A, limit: Duration) -> Self {
        Self { inner, limit }
    }
}

impl<A: Acceptor> Acceptor for HeaderDeadline<A> {
    type Io = DeadlineIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((DeadlineIo::new(io, self.limit), local, remote, scheme))
    }
}

/// Where the connection is in its current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: only the idle timeout applies.
    Idle,
    /// Reading a head; `tail` tracks a line end (1: saw `\n`, 2: saw `\n\r`), two of which end it.
    Head { tail: u8 },
    /// The head is in; the body has its own timeout.
    Body,
}

/// A connection whose request heads are bounded in time.
pub struct DeadlineIo<T> {
    inner: T,
    limit: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
}

impl<T> DeadlineIo<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self { inner, limit, phase: Phase::Idle, deadline: Box::pin(tokio::time::sleep(limit)) }
    }

    fn observe(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.phase = match (self.phase, b) {
                // Blank lines before a request line are allowed and start nothing.
                (Phase::Idle, b'\r' | b'\n') | (Phase::Body, _) => self.phase,
                (Phase::Idle, _) => {
                    self.deadline.as_mut().reset(Instant::now() + self.limit);
                    Phase::Head { tail: 0 }
                }
                (Phase::Head { tail: 1 | 2 }, b'\n') => Phase::Body,
                (Phase::Head { .. }, b'\n') => Phase::Head { tail: 1 },
                (Phase::Head { tail: 1 }, b'\r') => Phase::Head { tail: 2 },
                (Phase::Head { .. }, _) => Phase::Head { tail: 0 },
            };
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if matches!(this.phase, Phase::Head { .. }) && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow")));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.observe(&buf.filled()[before..]);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A response is going out, so whatever is read next starts a new request.
        if this.phase == Phase::Body {
            this.phase = Phase::Idle;
        }
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase_after(chunks: &[&[u8]]) -> Phase {
        let mut io = DeadlineIo::new(tokio::io::empty(), Duration::from_secs(1));
        for chunk in chunks {
            io.observe(chunk);
        }
        io.phase
    }

    #[tokio::test]
    async fn a_head_ends_at_its_blank_line_however_it_is_split() {
        assert_eq!(phase_after(&[b"\r\n"]), Phase::Idle);
        assert_eq!(phase_after(&[b"GET / HTTP/1.1\r\nHost: x\r\n"]), Phase::Head { tail: 1 });
        assert_eq!(phase_after(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n{\"a\":1}"]), Phase::Body);
        assert_eq!(phase_after(&[b"GET / HTTP/1.1\r\nHost: x\r", b"\n\r", b"\n"]), Phase::Body);
        assert_eq!(phase_after(&[b"GET / HTTP/1.1\nHost: x\n\n"]), Phase::Body);
        assert_eq!(phase_after(&[b"GET / HTTP/1.1\r\nA: b\rc\r\n"]), Phase::Head { tail: 1 });
    }
}
