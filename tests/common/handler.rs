//! A real HTTP trigger handler for the tests: a small HTTP/1.1 server on a local port.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request a handler received.
#[derive(Debug, Clone)]
pub struct Call {
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// A real HTTP trigger handler: answers each trigger (its `X-Trigger` header) with the
/// configured body, `true` for the others, and records every call.
pub struct HandlerServer {
    pub port: u16,
    pub calls: Arc<Mutex<Vec<Call>>>,
}

impl HandlerServer {
    pub fn start(answers: &[(&str, &str)]) -> HandlerServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let answers: HashMap<String, String> = answers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let seen = calls.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming().flatten() {
                let (seen, answers) = (seen.clone(), answers.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(sock.try_clone().expect("clone"));
                    let mut headers = HashMap::new();
                    let mut line = String::new();
                    let _ = reader.read_line(&mut line);
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.trim_end().split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    let _ = reader.read_exact(&mut body);
                    let trigger = headers.get("x-trigger").cloned().unwrap_or_default();
                    let answer = answers
                        .get(&trigger)
                        .cloned()
                        .unwrap_or_else(|| "true".into());
                    seen.lock().expect("lock").push(Call {
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let mut sock = sock;
                    let _ = write!(sock, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}", answer.len());
                });
            }
        });
        HandlerServer { port, calls }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/trigger", self.port)
    }

    pub fn calls_for(&self, trigger: &str) -> Vec<Call> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| c.headers.get("x-trigger").map(String::as_str) == Some(trigger))
            .cloned()
            .collect()
    }
}
