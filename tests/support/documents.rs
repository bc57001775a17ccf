//! Serves fixed documents over HTTP/1.1 on 127.0.0.1:0, for the tools that fetch one
//! (`gateway coverage --openapi http://...`) or post to one (`gateway token`). Each answer is
//! written whole and the connection closed; a path not listed is 404.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One answer: status, extra header lines, body.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<String>,
    pub body: String,
}

impl Answer {
    pub fn json(body: &str) -> Answer {
        Answer {
            status: 200,
            headers: vec!["Content-Type: application/json".to_owned()],
            body: body.to_owned(),
        }
    }
}

pub struct Documents {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Documents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Documents {
    /// Serves `answers` (path -> answer) until dropped.
    pub async fn serve(answers: Vec<(&str, Answer)>) -> Documents {
        let answers: Vec<(String, Answer)> = answers
            .into_iter()
            .map(|(path, answer)| (path.to_owned(), answer))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let answers = answers.clone();
                tokio::spawn(async move {
                    let Some(head) = super::backend::read_head(&mut stream).await else {
                        return;
                    };
                    // A request body (a token request's JSON) is read whole before answering,
                    // so closing never resets a connection with unread bytes.
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let length = text
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    let end = head
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(head.len(), |i| i + 4);
                    let mut left = length.saturating_sub(head.len().saturating_sub(end));
                    let mut buffer = [0u8; 1024];
                    while left > 0 {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => left = left.saturating_sub(n),
                        }
                    }
                    let head = text;
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    let answer = answers
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, a)| a.clone())
                        .unwrap_or(Answer {
                            status: 404,
                            headers: Vec::new(),
                            body: "not found".to_owned(),
                        });
                    let mut response =
                        format!("HTTP/1.1 {} X\r\nConnection: close\r\n", answer.status);
                    if !answer
                        .headers
                        .iter()
                        .any(|h| h.starts_with("Content-Length"))
                    {
                        response.push_str(&format!("Content-Length: {}\r\n", answer.body.len()));
                    }
                    for header in &answer.headers {
                        response.push_str(header);
                        response.push_str("\r\n");
                    }
                    response.push_str("\r\n");
                    response.push_str(&answer.body);
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Documents { addr, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
