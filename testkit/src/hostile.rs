//! The hostile requests (issue 9's findings): each sized against a limit the
//! services or actix-web set, so that a fixed build answers it with a 4xx and
//! stays inside its pod's memory. The tests of `backend` and `front` send them
//! to the app on port 0; the memory gate (`memory-gate`) to the release builds.
//! Sent over a raw connection: any method, any header length, and a server
//! that refuses and closes early is still read.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// actix-http 3 refuses a request head over 128 KiB or with more than 96 header
/// lines (431; `MAX_BUFFER_SIZE`, `MAX_HEADERS` in its h1/decoder.rs): "long"
/// headers stay under both and reach the handlers, "too long" go past them.
const HEAD_LIMIT: usize = 128 * KIB;
const HEADER_LINES_LIMIT: usize = 96;
const METHOD_BYTES: usize = 20 * KIB;
/// The http crate takes a request target of at most 65534 bytes: a long path
/// that reaches the router, the metrics and the spans stays under it.
const PATH_BYTES: usize = 60 * KIB;
/// The most of an answer kept; the rest is counted.
const KEEP: usize = 256 * KIB;

/// The limits of the device API the requests are sized against, from the
/// `backend` crate (the caller passes them: test support does not build the app).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes: usize,
    pub text_chars: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Backend,
    Front,
}

/// One HTTP/1.1 request, as bytes go on the wire.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            ..Self::default()
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn json(self, body: Vec<u8>) -> Self {
        Self { body, ..self }.header("Content-Type", "application/json")
    }
}

/// One hostile request, sent `count` times (`make(i)` gives the i-th).
/// `refusal`: past a limit, where the server may close the connection instead
/// of answering; `stop_at`: a stream, read until these bytes come, then dropped.
pub struct Hostile {
    pub label: String,
    pub target: Target,
    pub count: usize,
    pub refusal: bool,
    pub stop_at: Option<&'static [u8]>,
    make: Box<dyn Fn(usize) -> Request + Send + Sync>,
}

impl Hostile {
    fn new(
        label: impl Into<String>,
        target: Target,
        count: usize,
        make: impl Fn(usize) -> Request + Send + Sync + 'static,
    ) -> Self {
        Self {
            label: label.into(),
            target,
            count,
            refusal: false,
            stop_at: None,
            make: Box::new(make),
        }
    }

    fn refused(self) -> Self {
        Self {
            refusal: true,
            ..self
        }
    }

    pub fn request(&self, i: usize) -> Request {
        (self.make)(i)
    }

    /// Sends it `count` times to `address` (`127.0.0.1:port`); the answers.
    pub async fn send_all(&self, address: &str, timeout: Duration) -> Vec<Answer> {
        let mut answers = Vec::with_capacity(self.count);
        for i in 0..self.count {
            answers.push(send(address, &self.request(i), self.stop_at, timeout).await);
        }
        answers
    }

    /// What is wrong with an answer: a 5xx, or none where one was due.
    pub fn fault(&self, answer: &Answer) -> Option<String> {
        match answer.status {
            Some(status) if status >= 500 => Some(format!("{}: {status}", self.label)),
            Some(_) => None,
            None if self.refusal => None,
            None => Some(format!("{}: {}", self.label, answer.describe())),
        }
    }
}

/// front's live traffic view, opened, read to its first event and dropped.
pub fn dropped_stream(backend: &str) -> Hostile {
    let path = format!("/traffic/stream?backend={backend}");
    Hostile {
        stop_at: Some(b"\ndata:"),
        ..Hostile::new(
            "GET /traffic/stream, first event, dropped",
            Target::Front,
            30,
            move |_| Request::new("GET", &path),
        )
    }
}

/// Every hostile request, in the order they are sent. Names carry `tag`, so
/// that repeated runs against one database differ.
pub fn catalogue(tag: &str, limits: Limits) -> Vec<Hostile> {
    use Target::{Backend, Front};
    let ones = list_of_ones(limits.body_bytes);
    let over = list_of_ones(limits.body_bytes + 1);
    let text = limits.text_chars;
    let (t1, t2, t3) = (tag.to_owned(), tag.to_owned(), tag.to_owned());
    let body = limits.body_bytes;
    vec![
        Hostile::new(
            "POST /device, [1,1,...] as large as the body limit",
            Backend,
            1,
            move |_| Request::new("POST", "/device").json(ones.clone()),
        ),
        Hostile::new(
            "POST /device, [1,1,...] a byte over the body limit",
            Backend,
            1,
            move |_| Request::new("POST", "/device").json(over.clone()),
        )
        .refused(),
        Hostile::new(
            format!("POST /device, a name over {text} characters"),
            Backend,
            1,
            move |i| {
                Request::new("POST", "/device").json(device(
                    &named(&t1, "long", i, text + 44),
                    1,
                    "phone",
                ))
            },
        ),
        Hostile::new(
            "POST /device, a name filling the body limit",
            Backend,
            1,
            move |i| {
                let prefix = format!("{t2}-big-{i}-");
                let empty = device(&prefix, 2, "phone").len();
                let name = format!("{prefix}{}", "n".repeat(body - empty));
                Request::new("POST", "/device").json(device(&name, 2, "phone"))
            },
        ),
        Hostile::new(
            format!("POST /device, 50 devices, name and type of {text}"),
            Backend,
            1,
            move |i| {
                let devices: Vec<String> = (0..50)
                    .map(|n| {
                        json_device(
                            &named(&t3, &format!("max-{i}"), n, text),
                            10_000 + n as i64,
                            &"t".repeat(text),
                        )
                    })
                    .collect();
                Request::new("POST", "/device")
                    .json(format!("[{}]", devices.join(",")).into_bytes())
            },
        ),
        Hostile::new("GET /device?max_results=50", Backend, 5, |_| {
            Request::new("GET", "/device?max_results=50")
        }),
        Hostile::new("20 KiB invented method", Backend, 30, |i| {
            Request::new(&invented_method(i), "/device")
        }),
        Hostile::new("20 KiB invented method", Front, 30, |i| {
            Request::new(&invented_method(i), "/")
        }),
        Hostile::new("GET a 60 KiB path", Backend, 10, |i| {
            Request::new("GET", &long_path(&format!("/device/{i}")))
        }),
        Hostile::new("GET a 60 KiB path", Front, 10, |i| {
            Request::new("GET", &long_path(&format!("/{i}")))
        }),
        Hostile::new("GET /headers, a 100 KiB Cookie", Backend, 3, |_| {
            Request::new("GET", "/headers").header("Cookie", &long_cookie(100 * KIB))
        }),
        Hostile::new("GET /, a 100 KiB Cookie", Front, 3, |_| {
            Request::new("GET", "/").header("Cookie", &long_cookie(100 * KIB))
        }),
        Hostile::new("GET /, 80 headers of 1200 bytes", Front, 3, |_| {
            long_headers(Request::new("GET", "/"), 80, 1200)
        }),
        Hostile::new("GET /headers, 80 headers of 1200 bytes", Backend, 3, |_| {
            long_headers(Request::new("GET", "/headers"), 80, 1200)
        }),
        Hostile::new(
            "GET /, a Cookie past actix's 128 KiB head",
            Front,
            1,
            |_| Request::new("GET", "/").header("Cookie", &long_cookie(HEAD_LIMIT + KIB)),
        )
        .refused(),
        Hostile::new(
            format!("GET /, {} header lines", HEADER_LINES_LIMIT + 4),
            Front,
            1,
            |_| long_headers(Request::new("GET", "/"), HEADER_LINES_LIMIT + 4, 10),
        )
        .refused(),
        Hostile::new("POST /login, a 1 MiB form", Front, 1, move |_| {
            let mut form = Request::new("POST", "/login")
                .header("Content-Type", "application/x-www-form-urlencoded");
            form.body = [b"username=".as_slice(), &vec![b'u'; MIB - 9]].concat();
            form
        })
        .refused(),
    ]
}

/// `[1,1,...,1]` of exactly `size` bytes (a trailing space evens it out).
fn list_of_ones(size: usize) -> Vec<u8> {
    let count = (size - 1) / 2;
    let mut text = format!("[{}1]", "1,".repeat(count - 1)).into_bytes();
    text.resize(size, b' ');
    text
}

fn json_device(name: &str, uid: i64, kind: &str) -> String {
    serde_json::json!({"name": name, "uid": uid, "type": kind, "price": 1.0}).to_string()
}

fn device(name: &str, uid: i64, kind: &str) -> Vec<u8> {
    json_device(name, uid, kind).into_bytes()
}

/// `<tag>-<what>-<i>-nnn...` of exactly `length` characters.
fn named(tag: &str, what: &str, i: usize, length: usize) -> String {
    format!("{tag}-{what}-{i}-{}", "n".repeat(length))
        .chars()
        .take(length)
        .collect()
}

/// A 20 KiB method of letters, a different one for every n (a metrics label
/// per method would make one series each).
fn invented_method(n: usize) -> String {
    let (mut n, mut word) = (n + 1, String::new());
    while n > 0 {
        let digit = (n - 1) % 26;
        word.insert(0, char::from(b'A' + digit as u8));
        n = (n - 1) / 26;
    }
    format!("{word}{}", "X".repeat(METHOD_BYTES))[..METHOD_BYTES].to_string()
}

fn long_path(start: &str) -> String {
    format!("{start}{}", "p".repeat(PATH_BYTES))[..PATH_BYTES].to_string()
}

/// A Cookie of `size` bytes that still carries the dark launch's user.
fn long_cookie(size: usize) -> String {
    let start = "user=developer; pad=";
    format!("{start}{}", "c".repeat(size - start.len()))
}

/// `lines` headers of `each` bytes: the propagated ones first (front copies
/// them to the backends, the services put some in spans), then padding.
fn long_headers(mut request: Request, lines: usize, each: usize) -> Request {
    let propagated = [
        "x-request-id",
        "traceparent",
        "tracestate",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-sampled",
        "x-ot-span-context",
        "end-user",
        "user-agent",
    ];
    let names = propagated
        .iter()
        .map(|name| name.to_string())
        .chain((0..).map(|i| format!("x-pad-{i}")));
    for name in names.take(lines) {
        request.headers.push((name, "v".repeat(each)));
    }
    request
}

/// One request's outcome: the status (none when nothing came back), the
/// body's size and first bytes, how long it took, and why there was no answer.
#[derive(Debug, Default)]
pub struct Answer {
    pub status: Option<u16>,
    pub size: usize,
    pub body: Vec<u8>,
    pub elapsed: Duration,
    pub error: Option<String>,
}

impl Answer {
    pub fn describe(&self) -> String {
        match (self.status, &self.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => format!("no answer ({error})"),
            (None, None) => "no answer".into(),
        }
    }
}

/// Sends `request` on a connection of its own and reads the whole answer (or
/// until `stop_at` arrives), within `timeout`. Never fails: the answer says.
pub async fn send(
    address: &str,
    request: &Request,
    stop_at: Option<&[u8]>,
    timeout: Duration,
) -> Answer {
    let started = Instant::now();
    let mut answer = tokio::time::timeout(timeout, exchange(address, request, stop_at))
        .await
        .unwrap_or_else(|_| Answer {
            error: Some(format!("nothing within {timeout:?}")),
            ..Answer::default()
        });
    answer.elapsed = started.elapsed();
    answer
}

async fn exchange(address: &str, request: &Request, stop_at: Option<&[u8]>) -> Answer {
    let failed = |error: String| Answer {
        error: Some(error),
        ..Answer::default()
    };
    let mut stream = match TcpStream::connect(address).await {
        Ok(stream) => stream,
        Err(error) => return failed(format!("connect: {error}")),
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n",
        request.method, request.path
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.body.is_empty() || matches!(request.method.as_str(), "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    // A server may refuse (413, 431) and close before reading it all: its
    // answer can still be waiting in the socket.
    let sent = match stream.write_all(head.as_bytes()).await {
        Ok(()) => stream.write_all(&request.body).await,
        Err(error) => Err(error),
    };
    let mut received = Vec::new();
    let mut chunk = vec![0; 64 * KIB];
    let mut size = 0;
    let mut status = None;
    loop {
        if let Some(stop) = stop_at
            && received.windows(stop.len()).any(|w| w == stop)
        {
            break;
        }
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        size += n;
        if received.len() < KEEP {
            received.extend_from_slice(&chunk[..n.min(KEEP - received.len())]);
        }
        if status.is_none() && received.windows(4).any(|w| w == b"\r\n\r\n") {
            status = std::str::from_utf8(&received)
                .ok()
                .and_then(|text| text.split(' ').nth(1))
                .and_then(|code| code.parse().ok());
        }
    }
    match status {
        Some(status) => {
            let body_at = received
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(0, |at| at + 4);
            Answer {
                status: Some(status),
                size: size - body_at,
                body: received.split_off(body_at),
                ..Answer::default()
            }
        }
        None => failed(match sent {
            Err(error) => format!("closed without an answer (sending: {error})"),
            Ok(()) => "closed without an answer".into(),
        }),
    }
}
