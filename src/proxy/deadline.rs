//! A deadline on a connection's opening bytes, so a client that connects and sends nothing (or
//! dribbles a few bytes) cannot hold a connection open forever.
//!
//! hyper's HTTP/1 header-read timeout only starts once hyper-util's auto builder has decided
//! between HTTP/1 and HTTP/2, and that decision waits for the first bytes with no timeout at
//! all. This wrapper fails reads with `TimedOut` until the connection has delivered
//! `OPENING_BYTES` bytes (the length of the HTTP/2 preface, and less than any real HTTP/1
//! request head with a Host header) or the deadline passes, whichever is first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The HTTP/2 connection preface is 24 bytes (RFC 9113 §3.4).
const OPENING_BYTES: usize = 24;

pub struct OpeningDeadline<S> {
    inner: S,
    /// `None` once the opening bytes have arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    read: usize,
}

impl<S> OpeningDeadline<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            read: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for OpeningDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some(deadline) = &mut this.deadline {
            match &result {
                Poll::Ready(Ok(())) => {
                    this.read += buf.filled().len() - before;
                    if this.read >= OPENING_BYTES {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Err(_)) => {}
                Poll::Pending => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "client sent no request within header_read_timeout",
                        )));
                    }
                }
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for OpeningDeadline<S> {
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
