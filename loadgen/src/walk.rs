//! `read --cursor`: each connection walks `GET /messages` by cursor. A request either starts a
//! walk (a random page size and filter combination, as `read` draws them, without `offset`) or
//! continues the connection's current walk with `cursor=<next_cursor>`, same filters and size.
//! A walk ends at `--max-depth` pages, when `next_cursor` is null or absent, or on a failed page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::SmallRng;

use crate::client::Conn;
use crate::read::{Ctx, Seen, encode, filters, page_size};

/// Page-depth buckets of the breakdown: name and the deepest page in it.
pub const DEPTHS: [(&str, u32); 4] =
    [("page 1", 1), ("pages 2-10", 10), ("pages 11-100", 100), ("pages 101+", u32::MAX)];

/// The walk a connection is on: its query without the cursor, the filter mask, the pages read,
/// and the cursor to continue with.
struct Walk {
    base: String,
    mask: usize,
    depth: u32,
    cursor: String,
}

pub async fn walk_worker(ctx: Arc<Ctx>, mut conn: Conn, mut rng: SmallRng) -> Seen {
    let mut seen = Seen::default();
    let mut walk: Option<Walk> = None;
    loop {
        let now = Instant::now();
        if now >= ctx.end {
            break;
        }
        let measured = now >= ctx.measure_start;
        if rng.random_bool(ctx.args.stats_share.clamp(0.0, 1.0)) {
            let Ok(req) = ctx.target.get("/stats") else { continue };
            let t0 = Instant::now();
            let status = conn.send(req).await.ok().map(|r| r.status);
            if measured {
                seen.stats.record(status, t0.elapsed());
            }
            continue;
        }
        let (path, mask, depth) = match &walk {
            Some(w) => (format!("{}&cursor={}", w.base, encode(&w.cursor)), w.mask, w.depth + 1),
            None => {
                let (filters, mask) = filters(&mut rng, &ctx);
                let base = format!("/messages?limit={}{filters}", page_size(&mut rng));
                if measured {
                    seen.walks += 1;
                }
                (base, mask, 1)
            }
        };
        let Ok(req) = ctx.target.get(&path) else {
            walk = None;
            continue;
        };
        let t0 = Instant::now();
        let reply = conn.send(req).await.ok();
        let latency = t0.elapsed();
        let status = reply.as_ref().map(|r| r.status);
        if measured {
            seen.messages[mask].record(status, latency);
            let bucket = DEPTHS.iter().position(|&(_, upto)| depth <= upto).unwrap_or(DEPTHS.len() - 1);
            seen.depth[bucket].record(status, latency);
            if status == Some(200) {
                seen.deepest = seen.deepest.max(depth);
            }
        }
        let next = reply.filter(|r| r.status == 200).and_then(|r| next_cursor(&r.body));
        walk = match next {
            Some(cursor) if depth < ctx.args.max_depth => {
                let base = match walk {
                    Some(w) => w.base,
                    None => path,
                };
                Some(Walk { base, mask, depth, cursor })
            }
            _ => None,
        };
        if status.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    seen
}

/// `next_cursor` of a /messages page; `None` when null, absent or the body is not JSON.
fn next_cursor(body: &[u8]) -> Option<String> {
    let page: serde_json::Value = serde_json::from_slice(body).ok()?;
    page.get("next_cursor")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_next_cursor() {
        assert_eq!(next_cursor(br#"{"data":[],"next_cursor":"bTE6MTIz"}"#).as_deref(), Some("bTE6MTIz"));
        assert_eq!(next_cursor(br#"{"data":[],"next_cursor":null}"#), None);
        assert_eq!(next_cursor(br#"{"data":[]}"#), None);
        assert_eq!(next_cursor(b"not json"), None);
    }
}
