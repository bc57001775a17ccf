//! The one way test support serves HTTP: a task on 127.0.0.1:0 answering every request (HTTP/1
//! or HTTP/2) with a handler, aborted when dropped. The key host, the OTLP receiver and the token
//! endpoint stand-in are handlers on it; the recording backend, which needs the raw socket for
//! its faults, is not.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `answer` on a fresh 127.0.0.1:0 listener until dropped.
    pub async fn start<F, Fut>(answer: F) -> Server
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test server on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("the test server's bound address");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let answer = answer.clone();
                        async move { Ok::<_, Infallible>(answer(request).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server { addr, task }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
