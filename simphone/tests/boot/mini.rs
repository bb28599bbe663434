//! Test-only mini responders on 127.0.0.1: just enough DHCP, HTTP and SIP to walk simphone
//! through a boot, recording what the phone sent. Deliberately simple and independent of the
//! harness's real servers (which simphone must not depend on).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Something the phone did, as the responders saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Dhcp {
        kind: u8,
        hostname: Option<String>,
        params: Vec<u8>,
        ciaddr: Ipv4Addr,
    },
    Http {
        path: String,
        user_agent: String,
        peer: SocketAddr,
    },
    Register {
        authorized: bool,
        user_agent: String,
        expires: String,
        answered: u16,
        peer: SocketAddr,
    },
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

fn push(log: &Log, s: Seen) {
    log.lock().expect("log lock").push(s);
}

pub fn snapshot(log: &Log) -> Vec<Seen> {
    log.lock().expect("log lock").clone()
}

/// True when a DHCPDISCOVER follows the GET of `path` (the phone rebooted after it).
pub fn rebooted_after(seen: &[Seen], path: &str) -> bool {
    let Some(at) = seen
        .iter()
        .position(|s| matches!(s, Seen::Http { path: p, .. } if p == path))
    else {
        return false;
    };
    seen[at..]
        .iter()
        .any(|s| matches!(s, Seen::Dhcp { kind: 1, .. }))
}

// ---------------------------------------------------------------- DHCP

fn options(b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 240;
    while i < b.len() {
        match b[i] {
            0 => i += 1,
            255 => break,
            code => {
                let Some(&len) = b.get(i + 1) else { break };
                let end = i + 2 + len as usize;
                if end > b.len() {
                    break;
                }
                out.push((code, b[i + 2..end].to_vec()));
                i = end;
            }
        }
    }
    out
}

/// What the DHCP responder hands out.
#[derive(Debug, Clone)]
pub struct Plan {
    pub lease: Ipv4Addr,
    pub server: Ipv4Addr,
    pub mask: Ipv4Addr,
    /// Option 242, split over two instances (RFC 3396).
    pub site: String,
    /// Option 51, seconds.
    pub lease_secs: u32,
    /// Answer renewals (REQUEST with ciaddr set) with a NAK.
    pub nak_renewals: bool,
    /// More options, appended as they are.
    pub extra: Vec<(u8, Vec<u8>)>,
}

impl Plan {
    /// A one-hour lease with `site` in option 242 and nothing else special.
    pub fn new(lease: Ipv4Addr, server: Ipv4Addr, mask: Ipv4Addr, site: String) -> Self {
        Self {
            lease,
            server,
            mask,
            site,
            lease_secs: 3600,
            nak_renewals: false,
            extra: Vec::new(),
        }
    }
}

fn reply(req: &[u8], kind: u8, plan: &Plan) -> Vec<u8> {
    let (yiaddr, site) = (plan.lease, plan.site.as_str());
    let mut r = vec![0u8; 240];
    r[0] = 2;
    r[1] = 1;
    r[2] = 6;
    r[4..8].copy_from_slice(&req[4..8]);
    r[16..20].copy_from_slice(&yiaddr.octets());
    r[20..24].copy_from_slice(&plan.server.octets()); // siaddr
    r[28..44].copy_from_slice(&req[28..44]);
    r[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let mut opt = |code: u8, v: &[u8]| {
        r.push(code);
        r.push(v.len() as u8);
        r.extend_from_slice(v);
    };
    opt(53, &[kind]);
    opt(54, &plan.server.octets());
    if kind != 6 {
        opt(51, &plan.lease_secs.to_be_bytes());
        opt(1, &plan.mask.octets());
    }
    // Split the site string in two instances to exercise RFC 3396 concatenation.
    let bytes = site.as_bytes();
    let mid = bytes.len() / 2;
    if kind != 6 {
        opt(242, &bytes[..mid]);
        opt(242, &bytes[mid..]);
        for (code, value) in &plan.extra {
            opt(*code, value);
        }
    }
    r.push(255);
    r
}

/// Record one client message and build the answer (OFFER for DISCOVER, ACK for REQUEST).
fn answer(log: &Log, req: &[u8], plan: &Plan) -> Option<Vec<u8>> {
    if req.len() < 240 {
        return None;
    }
    let opts = options(req);
    let get = |c: u8| opts.iter().find(|(k, _)| *k == c).map(|(_, v)| v.clone());
    let kind = get(53).and_then(|v| v.first().copied()).unwrap_or(0);
    push(
        log,
        Seen::Dhcp {
            kind,
            hostname: get(12).map(|v| String::from_utf8_lossy(&v).into_owned()),
            params: get(55).unwrap_or_default(),
            ciaddr: Ipv4Addr::new(req[12], req[13], req[14], req[15]),
        },
    );
    let renewal = req[12..16] != [0, 0, 0, 0];
    match kind {
        1 => Some(reply(req, 2, plan)),
        3 if renewal && plan.nak_renewals => Some(reply(req, 6, plan)),
        3 => Some(reply(req, 5, plan)),
        _ => None,
    }
}

/// A DHCP server on a UDP socket of 127.0.0.1 (loopback mode). Returns its address.
pub async fn dhcp(log: Log, plan: Plan) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("dhcp bind");
    let addr = sock.local_addr().expect("dhcp addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if let Some(a) = answer(&log, &buf[..n], &plan) {
                let _ = sock.send_to(&a, from).await;
            }
        }
    });
    addr
}

/// A DHCP server on raw frames of `iface` (netns mode): answers unicast to the client MAC.
pub fn dhcp_raw(log: Log, iface: &str, plan: Plan) {
    dhcp_raw_on(log, iface, None, plan)
}

/// A DHCP server on raw frames of `iface` for 802.1Q VLAN `vlan` (`None`: untagged): it
/// answers only frames of that VLAN and tags its replies itself, so no VLAN device (and no
/// kernel 802.1Q support) is needed.
pub fn dhcp_raw_on(log: Log, iface: &str, vlan: Option<u16>, plan: Plan) {
    use simphone::net::raw::{self, RawSocket};
    let sock = RawSocket::open(iface).expect("raw socket");
    let my_mac = raw::interface_mac(iface).expect("mac");
    tokio::spawn(async move {
        loop {
            let Ok(frame) = sock.recv().await else { return };
            let Some(udp) = frame.udp() else {
                continue;
            };
            if udp.dst_port != 67 || udp.vlan != vlan {
                continue;
            }
            if let Some(a) = answer(&log, &udp.payload, &plan) {
                let out = raw::build_udp_frame(
                    my_mac,
                    udp.src_mac,
                    vlan,
                    (plan.server, 67),
                    (plan.lease, 68),
                    &a,
                );
                let _ = sock.send(&out).await;
            }
        }
    });
}

// ---------------------------------------------------------------- HTTP

/// A file server: path → body; anything else is 404.
pub async fn http(log: Log, bind: IpAddr, files: HashMap<String, Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind(SocketAddr::new(bind, 0))
        .await
        .expect("http bind");
    let addr = listener.local_addr().expect("http addr");
    let files = Arc::new(files);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, peer)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let files = files.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let path = text.split(' ').nth(1).unwrap_or_default().to_string();
                let ua = text
                    .lines()
                    .find_map(|l| l.strip_prefix("User-Agent: "))
                    .unwrap_or_default()
                    .to_string();
                push(
                    &log,
                    Seen::Http {
                        path: path.clone(),
                        user_agent: ua,
                        peer,
                    },
                );
                let resp = match files.get(&path) {
                    Some(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = s.write_all(&resp).await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- SIP

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn auth_param(auth: &str, key: &str) -> Option<String> {
    auth.trim_start_matches("Digest ").split(',').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// A registrar for `user`/`password` in realm `lab.test`: 401 without valid credentials,
/// 200 (expires 120) with them.
pub async fn registrar(
    log: Log,
    bind: IpAddr,
    user: &'static str,
    password: &'static str,
) -> SocketAddr {
    let sock = UdpSocket::bind(SocketAddr::new(bind, 0))
        .await
        .expect("sip bind");
    let addr = sock.local_addr().expect("sip addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !msg.starts_with("REGISTER ") {
                continue;
            }
            let uri = msg.split(' ').nth(1).unwrap_or_default().to_string();
            let auth = header(&msg, "Authorization").map(str::to_string);
            let valid = auth.as_deref().is_some_and(|a| {
                let ha1 = md5_hex(&format!("{user}:lab.test:{password}"));
                let ha2 = md5_hex(&format!("REGISTER:{uri}"));
                let want = md5_hex(&format!(
                    "{ha1}:nonce42:{}:{}:auth:{ha2}",
                    auth_param(a, "nc").unwrap_or_default(),
                    auth_param(a, "cnonce").unwrap_or_default()
                ));
                auth_param(a, "response").as_deref() == Some(want.as_str())
                    && auth_param(a, "username").as_deref() == Some(user)
            });
            let status = if valid { 200 } else { 401 };
            push(
                &log,
                Seen::Register {
                    authorized: auth.is_some(),
                    user_agent: header(&msg, "User-Agent").unwrap_or_default().to_string(),
                    expires: header(&msg, "Expires").unwrap_or_default().to_string(),
                    answered: status,
                    peer: from,
                },
            );
            let mut r = format!(
                "SIP/2.0 {}\r\n",
                if valid { "200 OK" } else { "401 Unauthorized" }
            );
            for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
                r.push_str(&format!("{h}: {}\r\n", header(&msg, h).unwrap_or_default()));
            }
            if valid {
                r.push_str(&format!(
                    "Contact: {};expires=120\r\n",
                    header(&msg, "Contact").unwrap_or_default()
                ));
            } else {
                r.push_str("WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"nonce42\", qop=\"auth\", algorithm=MD5\r\n");
            }
            r.push_str("Content-Length: 0\r\n\r\n");
            let _ = sock.send_to(r.as_bytes(), from).await;
        }
    });
    addr
}
