//! The stream hyper reads a client connection through: a deadline on its opening bytes and the
//! HTTP/1 framing watch, in one wrapper with one write passthrough.
//!
//! **Opening deadline.** hyper's HTTP/1 header-read timeout only starts once hyper-util's auto
//! builder has decided between HTTP/1 and HTTP/2, and that decision waits for the first bytes
//! with no timeout at all. Reads fail with `TimedOut` until the connection has delivered
//! `OPENING_BYTES` bytes (the length of the HTTP/2 preface, and less than any real HTTP/1
//! request head with a Host header) or the deadline passes, whichever is first; so a client
//! that connects and sends nothing (or dribbles a few bytes) cannot hold a connection forever.
//!
//! **Framing watch.** Every byte read is also fed to `framing::Scanner`; its first refusal is
//! published to the connection's `framing::Refusals`, which the service consults per request.
//! The wrapper never changes a byte hyper reads. Writes pass straight through.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::proxy::framing::{Refusals, Scanner};

/// The HTTP/2 connection preface is 24 bytes (RFC 9113 §3.4).
const OPENING_BYTES: usize = 24;

pub struct ClientStream<S> {
    inner: S,
    /// `None` once the opening bytes have arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    read: usize,
    scanner: Scanner,
    refusals: Arc<Refusals>,
    published: bool,
}

impl<S> ClientStream<S> {
    /// `opening_timeout`: how long the first bytes may take. `scanner`: `Scanner::behind_hyper`
    /// for HTTP/1 or not-yet-detected connections, `Scanner::off` for HTTP/2 ones.
    pub fn new(
        inner: S,
        opening_timeout: Duration,
        scanner: Scanner,
        refusals: Arc<Refusals>,
    ) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(opening_timeout))),
            read: 0,
            scanner,
            refusals,
            published: false,
        }
    }

    /// The wrapped stream (e.g. for the TLS session's client certificate).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClientStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if this.deadline.is_some() {
                    this.read += fresh.len();
                    if this.read >= OPENING_BYTES {
                        this.deadline = None;
                    }
                }
                if !this.scanner.is_off() {
                    this.scanner.feed(fresh);
                }
                if !this.published
                    && let Some((index, reason)) = this.scanner.refusal()
                {
                    this.refusals.publish(index, reason);
                    this.published = true;
                }
            }
            Poll::Ready(Err(_)) => {}
            Poll::Pending => {
                if let Some(deadline) = &mut this.deadline
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client sent no request within header_read_timeout",
                    )));
                }
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClientStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
