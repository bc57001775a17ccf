//! The one body type the gateway hands to hyper, in both directions.
//!
//! Forwarded bodies stream through untouched (`Incoming` boxed); the gateway's own answers are
//! small in-memory buffers. Boxing both into one type keeps the pipeline's signatures plain.

use bytes::Bytes;
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
