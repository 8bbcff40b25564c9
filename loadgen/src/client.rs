//! One HTTP/1.1 keep-alive connection per worker, over hyper's low-level client, so each
//! worker's requests are strictly sequential on its own socket (no pool, no hidden queueing).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request still unanswered after this counts as an error (and its connection is dropped).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where requests go: one resolved address, the `Host` value, and an optional bearer token.
pub struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    auth: Option<HeaderValue>,
}

impl Target {
    pub async fn resolve(url: &str, token: Option<&str>) -> Result<Arc<Self>> {
        let uri: Uri = url.parse().with_context(|| format!("--target {url:?} is not a URL"))?;
        if uri.scheme_str().is_some_and(|s| s != "http") {
            return Err(anyhow!("--target must be http:// (plain HTTP/1.1)"));
        }
        let authority = uri.authority().ok_or_else(|| anyhow!("--target {url:?} has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", authority.host()))?;
        let host = HeaderValue::from_str(authority.as_str())?;
        let auth = token.map(|t| HeaderValue::from_str(&format!("Bearer {t}"))).transpose()?;
        Ok(Arc::new(Self { addr, host, auth }))
    }

    pub fn post_webhook(&self, body: Bytes, signature: HeaderValue) -> Request<Full<Bytes>> {
        self.post_signed(body, "x-signature", signature)
    }

    /// `POST /webhook` with the signature in header `header` (`x-signature`, `x-hub-signature-256`).
    pub fn post_signed(&self, body: Bytes, header: &'static str, signature: HeaderValue) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = Uri::from_static("/webhook");
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(header, signature);
        req
    }

    pub fn get(&self, path_and_query: &str) -> Result<Request<Full<Bytes>>> {
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = path_and_query.parse()?;
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        if let Some(auth) = &self.auth {
            h.insert(AUTHORIZATION, auth.clone());
        }
        Ok(req)
    }
}

/// A response read to its end (so the connection can carry the next request).
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    /// Seconds from `Retry-After`, when present and numeric.
    pub retry_after: Option<u64>,
}

/// A worker's connection; reconnects lazily after the server closes it or a request fails.
pub struct Conn {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Self {
        Self { target, sender: None }
    }

    /// Opens the socket now, so connection set-up happens before the clock starts.
    pub async fn connect(&mut self) -> Result<()> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        self.sender = Some(sender);
        Ok(())
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.connect().await?;
        }
        let exchange = exchange(self.sender.as_mut().expect("connected above"), req);
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(anyhow!("no complete response within {REQUEST_TIMEOUT:?}")),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

async fn exchange(sender: &mut SendRequest<Full<Bytes>>, req: Request<Full<Bytes>>) -> Result<Reply> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()?.trim().parse().ok());
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Reply { status, body, retry_after })
}

/// Opens `n` connections before any load starts.
pub async fn connect_all(target: &Arc<Target>, n: usize) -> Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = Conn::new(target.clone());
        c.connect().await?;
        conns.push(c);
    }
    Ok(conns)
}
