//! Where `sfb-dr simulator` listens: `HOST:PORT` with a name (such as `localhost:7070`) or an
//! address, on loopback unless the user says otherwise. The simulator has no authentication and
//! anyone who reaches it can fail pools over, so a wider address takes an explicit flag.

use std::net::{SocketAddr, ToSocketAddrs};

/// The addresses `listen` names, every one loopback unless `anywhere`; errors are one line
/// naming the flag.
pub fn addresses(listen: &str, anywhere: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| {
            format!(
                "--listen {listen:?}: expected HOST:PORT with a port from 0 to 65535, such as \
                 127.0.0.1:7070 or localhost:7070 ({e})"
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(format!(
            "--listen {listen:?}: the name resolves to no address"
        ));
    }
    if !anywhere {
        if let Some(wide) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(format!(
                "--listen {listen:?}: {} is not a loopback address; the simulator has no \
                 authentication and anyone who reaches it can fail pools over. Listen on \
                 127.0.0.1 or localhost, or add --insecure-listen-anywhere",
                wide.ip()
            ));
        }
    }
    Ok(addrs)
}

/// The addresses for a message.
pub fn describe(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
