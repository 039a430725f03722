//! Just enough HTTP/1.1 for one request per connection: read the head
//! (bounded size and time), then answer with an embedded file, an error,
//! or `101 Switching Protocols` for a websocket upgrade at `/ws/TOKEN`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted (431 beyond).
pub(crate) const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// The files of `atenet/web/`, embedded: no CDN, no build step.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../web/index.html"),
    ),
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/index.html"),
    ),
    (
        "/atenet.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/atenet.js"),
    ),
    (
        "/stack.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/stack.js"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/app.js"),
    ),
];

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// `GET` of an embedded file.
    File {
        content_type: &'static str,
        body: &'static [u8],
    },
    /// A websocket upgrade at `/ws/TOKEN`.
    Upgrade { token: String, key: String },
    /// Answer with this status and close.
    Refuse(Status),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    HeadersTooLarge,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::HeadersTooLarge => "431 Request Header Fields Too Large",
        }
    }
}

/// The request head and whatever followed it in the same reads.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: Request,
    pub(crate) path: String,
    pub(crate) rest: Vec<u8>,
}

/// Reads one request head. `None`: the peer closed or broke the
/// connection before a complete head.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let path = req.path.unwrap_or("").to_owned();
                let request = route(&req);
                return Some(Head {
                    request,
                    path,
                    rest: buf[len..].to_vec(),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Some(Head {
                    request: Request::Refuse(Status::HeadersTooLarge),
                    path: String::new(),
                    rest: Vec::new(),
                });
            }
            Err(_) => {
                return Some(Head {
                    request: Request::Refuse(Status::BadRequest),
                    path: String::new(),
                    rest: Vec::new(),
                })
            }
        }
    }
}

fn header<'a>(req: &'a httparse::Request<'_, '_>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn route(req: &httparse::Request<'_, '_>) -> Request {
    if req.method != Some("GET") {
        return Request::Refuse(Status::MethodNotAllowed);
    }
    let path = req.path.unwrap_or("");
    // The query string never selects anything (the page reads its own).
    let path = path.split(['?', '#']).next().unwrap_or("");
    if let Some(token) = path.strip_prefix("/ws/") {
        let upgrade = header(req, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let connection = header(req, "connection").is_some_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case("upgrade"))
        });
        let version = header(req, "sec-websocket-version") == Some("13");
        let key = header(req, "sec-websocket-key").filter(|key| key.len() == 24);
        return match (upgrade && connection && version, key) {
            (true, Some(key)) => Request::Upgrade {
                token: token.to_owned(),
                key: key.to_owned(),
            },
            _ => Request::Refuse(Status::BadRequest),
        };
    }
    FILES.iter().find(|(name, _, _)| *name == path).map_or(
        Request::Refuse(Status::NotFound),
        |(_, content_type, body)| Request::File { content_type, body },
    )
}

/// Sends an embedded file and nothing more (`Connection: close`).
pub(crate) async fn send_file<S: AsyncWrite + Unpin>(
    stream: &mut S,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

/// Answers with an error status (an empty-ish body) and closes.
pub(crate) async fn send_status<S: AsyncWrite + Unpin>(
    stream: &mut S,
    line: &str,
) -> std::io::Result<()> {
    let body = format!("{line}\n");
    let head = format!(
        "HTTP/1.1 {line}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.shutdown().await
}

pub(crate) async fn refuse<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: Status,
) -> std::io::Result<()> {
    send_status(stream, status.line()).await
}

/// `101 Switching Protocols` for a checked upgrade (RFC 6455 §4.2.2).
pub(crate) async fn accept_upgrade<S: AsyncWrite + Unpin>(
    stream: &mut S,
    key: &str,
) -> std::io::Result<()> {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(text: &str) -> Request {
        let mut input = text.as_bytes();
        read_head(&mut input).await.unwrap().request
    }

    #[tokio::test]
    async fn routes_files_upgrades_and_refusals() {
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await,
            Request::File { .. }
        ));
        assert!(matches!(
            parse("GET /atenet.js?v=1 HTTP/1.1\r\n\r\n").await,
            Request::File { .. }
        ));
        assert_eq!(
            parse("GET /nope HTTP/1.1\r\n\r\n").await,
            Request::Refuse(Status::NotFound)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\n\r\n").await,
            Request::Refuse(Status::MethodNotAllowed)
        );
        assert_eq!(
            parse("GET /ws/atw1x HTTP/1.1\r\n\r\n").await,
            Request::Refuse(Status::BadRequest)
        );
        let upgrade = "GET /ws/atw1x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert_eq!(
            parse(upgrade).await,
            Request::Upgrade {
                token: "atw1x".into(),
                key: "dGhlIHNhbXBsZSBub25jZQ==".into()
            }
        );
        assert_eq!(
            parse("\x16\x03\x01garbage\r\n\r\n").await,
            Request::Refuse(Status::BadRequest)
        );
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse(&huge).await, Request::Refuse(Status::HeadersTooLarge));
    }
}
