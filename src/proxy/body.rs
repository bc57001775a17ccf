//! The one body type the gateway hands to hyper, in both directions.
//!
//! Forwarded bodies stream through untouched (`Incoming` boxed); the gateway's own answers are
//! small in-memory buffers. Boxing both into one type keeps the pipeline's signatures plain.
//! `with_first_frame` waits for a request body's first frame before forwarding starts, so a body
//! malformed from its first bytes never sends its head upstream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed or buffered body.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Streams `body` without buffering it.
pub fn stream<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A failure of the client's request body (malformed chunking, cut off, over `max_body`),
/// marked so forwarding can answer 400/413 instead of blaming the upstream with a 502.
#[derive(Debug, thiserror::Error)]
#[error("the request body is malformed or was cut off: {0}")]
pub struct ClientBodyError(#[source] pub BoxError);

/// Streams the client's request body, marking its errors as the client's.
pub fn from_client<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(|e| Box::new(ClientBodyError(e.into())) as BoxError)
        .boxed_unsync()
}

/// `body` with its first frame already received, so a body that is malformed from its first
/// bytes (a bad first chunk size, more than `max_body` at once) is refused before anything is
/// sent upstream. A body that is already known to be empty (GET, HEAD) is returned at once.
/// When no frame arrives within `wait`, the body is returned untouched and streams as before:
/// the wait is bounded, and a slow client is not refused for being slow.
pub async fn with_first_frame(mut body: Body, wait: Duration) -> Result<Body, BoxError> {
    if body.is_end_stream() {
        return Ok(body);
    }
    match tokio::time::timeout(wait, body.frame()).await {
        Err(_) => Ok(body),
        Ok(None) => Ok(empty()),
        Ok(Some(Err(error))) => Err(error),
        Ok(Some(Ok(first))) => Ok(Prepended {
            first: Some(first),
            rest: body,
        }
        .boxed_unsync()),
    }
}

/// A body whose first frame was read ahead and is put back in front of the rest.
struct Prepended {
    first: Option<Frame<Bytes>>,
    rest: Body,
}

impl http_body::Body for Prepended {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match this.first.take() {
            Some(first) => Poll::Ready(Some(Ok(first))),
            None => Pin::new(&mut this.rest).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.size_hint();
        let first = self
            .first
            .as_ref()
            .and_then(Frame::data_ref)
            .map_or(0, |data| data.len() as u64);
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(first));
        }
        hint.set_lower(rest.lower().saturating_add(first));
        hint
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn the_first_frame_is_put_back_in_front() {
        let body = full("hello");
        let body = with_first_frame(body, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(body.size_hint().exact(), Some(5));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
    }

    /// A client body whose first frame fails, like a bad first chunk size.
    struct Broken;

    impl http_body::Body for Broken {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(Some(Err(std::io::Error::other("invalid chunk size"))))
        }
    }

    #[tokio::test]
    async fn a_first_frame_error_is_returned() {
        let error = with_first_frame(from_client(Broken), Duration::from_secs(1))
            .await
            .err()
            .unwrap();
        assert!(error.is::<ClientBodyError>(), "{error}");
    }

    #[tokio::test]
    async fn an_empty_body_is_not_waited_for() {
        let body = with_first_frame(empty(), Duration::ZERO).await.unwrap();
        assert!(body.is_end_stream());
    }
}
