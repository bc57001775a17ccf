//! A key-set host on 127.0.0.1:0 for JWKS document and redirect tests: `/keys` serves the
//! document set with `serve`, `/moved` redirects there (same origin), `/elsewhere` redirects to
//! the URL set with `redirect_to` (another origin), and it counts what was asked.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::server::Server;

#[derive(Default)]
struct State {
    document: Mutex<serde_json::Value>,
    redirect: Mutex<String>,
    key_requests: AtomicUsize,
}

pub struct KeyHost {
    pub addr: SocketAddr,
    state: Arc<State>,
    _server: Server,
}

impl KeyHost {
    pub async fn start(document: serde_json::Value) -> KeyHost {
        let state = Arc::new(State::default());
        *state.document.lock().unwrap() = document;
        let shared = state.clone();
        let server = Server::start(move |request| answer(shared.clone(), request)).await;
        KeyHost {
            addr: server.addr,
            state,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What `/keys` serves from now on.
    pub fn serve(&self, document: serde_json::Value) {
        *self.state.document.lock().unwrap() = document;
    }

    /// Where `/elsewhere` redirects.
    pub fn redirect_to(&self, url: &str) {
        *self.state.redirect.lock().unwrap() = url.to_owned();
    }

    /// Requests for `/keys` so far.
    pub fn key_requests(&self) -> usize {
        self.state.key_requests.load(Ordering::SeqCst)
    }
}

async fn answer(state: Arc<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let redirect = |location: String| {
        Response::builder()
            .status(StatusCode::FOUND)
            .header("location", location)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    match request.uri().path() {
        "/keys" => {
            state.key_requests.fetch_add(1, Ordering::SeqCst);
            let body = state.document.lock().unwrap().to_string();
            Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        }
        "/moved" => redirect("/keys".to_owned()),
        "/elsewhere" => redirect(state.redirect.lock().unwrap().clone()),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    }
}
