//! `TCP_NODELAY` on PostgreSQL connections.
//!
//! sqlx 0.9.0 no longer disables Nagle's algorithm on its sockets (launchbadge/sqlx#4335; fixed by
//! #4336, which no release holds yet). A group's multi-row `INSERT` is a Bind message of several
//! segments, and with Nagle on its last segment waits for the server's delayed ACK, 40 ms on Linux:
//! one replica at 256 connections then committed 1,497 messages/s over TCP against 7,479 over a Unix
//! socket, its connection idle in transaction for 40 ms between statements. sqlx does not hand out
//! its socket, so after connecting each connection asks the server for the two ports of its TCP
//! connection and sets the option on the one socket of this process with those ports.
//! Remove once sqlx sets it again.

use std::os::fd::{BorrowedFd, RawFd};

use sea_orm::sqlx::{self, PgConnection};
use socket2::SockRef;

/// Runs on each new pooled connection, and never fails it: a connection over a Unix socket has no
/// ports and needs nothing, and one whose socket cannot be found (no `/proc`, a pooler or NAT
/// rewriting ports, a server without `inet_client_port`) is used as it is, with one warning.
///
/// # Errors
/// None; the signature is the pool's.
pub async fn after_connect(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let ports: Result<(Option<i32>, Option<i32>), _> =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()").fetch_one(conn).await;
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    let found = match ports {
        Ok((client, server)) => match (port(client), port(server)) {
            (Some(local), Some(peer)) => {
                tokio::task::spawn_blocking(move || set_nodelay(local, peer)).await.unwrap_or(false)
            }
            _ => true,
        },
        Err(_) => false,
    };
    if !found && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "TCP_NODELAY could not be set on a PostgreSQL connection; large groups may wait 40 ms for \
             delayed ACKs (a Unix socket URL avoids it)"
        );
    }
    Ok(())
}

/// Whether the warning has been logged; once per process is enough.
static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets `TCP_NODELAY` on this process's TCP socket from local port `local` to remote port `peer`;
/// whether one was found.
fn set_nodelay(local: u16, peer: u16) -> bool {
    on_socket(local, peer, |socket| socket.set_tcp_nodelay(true).is_ok()).unwrap_or(false)
}

/// Runs `f` on this process's TCP socket from local port `local` to remote port `peer`, if any.
fn on_socket<T>(local: u16, peer: u16, f: impl FnOnce(SockRef<'_>) -> T) -> Option<T> {
    let fds = std::fs::read_dir("/proc/self/fd").ok()?;
    for fd in fds.flatten().filter_map(|entry| entry.file_name().to_str()?.parse::<RawFd>().ok()) {
        // SAFETY: an accepted risk rather than a kept promise. `borrow_raw` asks that the descriptor
        // stay open while borrowed, and another thread may close it or reuse its number meanwhile.
        // Only getsockname, getpeername and setsockopt run on it, never a read, write or close:
        // on a closed or non-socket descriptor they fail, and a reused one is touched only if its
        // two ports are the ones asked for.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&fd);
        let port = |addr: std::io::Result<socket2::SockAddr>| addr.ok().and_then(|a| a.as_socket()).map(|a| a.port());
        if port(socket.local_addr()) == Some(local) && port(socket.peer_addr()) == Some(peer) {
            return Some(f(socket));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn the_socket_with_both_ports_gets_the_option_and_no_other() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let other = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (local, peer) = (client.local_addr().unwrap().port(), client.peer_addr().unwrap().port());
        assert!(!client.nodelay().unwrap() && !other.nodelay().unwrap());
        assert!(set_nodelay(local, peer));
        assert!(client.nodelay().unwrap(), "the matching socket has TCP_NODELAY");
        assert!(!other.nodelay().unwrap(), "a socket with another local port is left alone");
        assert!(!set_nodelay(local, peer.wrapping_add(1)), "no socket has that pair of ports");
    }

    #[tokio::test]
    #[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
    async fn pooled_postgresql_connections_over_tcp_have_nagle_off() {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};

        use crate::adapters::db::{DatabaseTarget, DbConfig, connect};

        let url = std::env::var("TEST_POSTGRES_URL").expect("TEST_POSTGRES_URL");
        let config = DbConfig {
            target: DatabaseTarget::Postgres(url),
            max_connections: 2,
            connect_timeout: std::time::Duration::from_secs(5),
            acquire_timeout: std::time::Duration::from_secs(5),
            sqlite_full_sync: true,
            sqlite_cache_mib: DbConfig::DEFAULT_SQLITE_CACHE_MIB,
        };
        let db = connect(&config).await.unwrap();
        let ports = Statement::from_string(DbBackend::Postgres, "SELECT inet_client_port(), inet_server_port()");
        let row = db.query_one_raw(ports).await.unwrap().unwrap();
        let (local, peer): (Option<i32>, Option<i32>) =
            (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap());
        let (Some(local), Some(peer)) = (local, peer) else {
            panic!("TEST_POSTGRES_URL must reach the server over TCP for this test");
        };
        let nodelay =
            on_socket(u16::try_from(local).unwrap(), u16::try_from(peer).unwrap(), |s| s.tcp_nodelay().unwrap());
        assert_eq!(nodelay, Some(true), "the pooled connection's socket has TCP_NODELAY");
        db.close().await.unwrap();
    }
}
