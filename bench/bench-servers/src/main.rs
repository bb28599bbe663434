//! One of phonecert's three servers on its own, for the benchmarks in `bench/`: the DHCP
//! server, the file server (HTTP, and HTTPS with a certificate from `pc-pki`) or the
//! registrar, each in the same tokio shell a scenario runs it in, with a configuration made
//! for load (a large pool, one large file, many accounts) instead of one lowered from a
//! scenario.
//!
//! Owns: the sockets of the chosen server (in the network namespace it is started in), the
//! configuration given on the command line, draining the events the shell reports (a run
//! records them; here they are only counted, so the cost of producing them stays in the
//! measurement), stopping on SIGINT/SIGTERM or after `--duration`.
//!
//! Never: judges anything, writes a capture or a report, picks its own addresses. It prints
//! one line, `ready <server> <address>…`, once every listener is bound (the benchmark scripts
//! wait for it before they send load), and `stopped <server> events=<n>` when it ends.

use std::future::Future as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand};
use pc_capture::{NoTap, Stamped, Tap};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{mpsc, watch};

#[derive(Debug, Parser)]
#[command(about = "run one phonecert server alone, for the benchmarks in bench/")]
struct Args {
    /// Stop after this many seconds (default: at SIGINT or SIGTERM only).
    #[arg(long, global = true)]
    duration: Option<u64>,
    #[command(subcommand)]
    server: Server,
}

#[derive(Debug, Subcommand)]
enum Server {
    /// The DHCP server on 0.0.0.0:67 of `iface` (raw replies to clients, UDP to relays).
    Dhcp {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        server_ip: Ipv4Addr,
        #[arg(long, default_value = "255.255.0.0")]
        mask: Ipv4Addr,
        #[arg(long)]
        pool_start: Ipv4Addr,
        #[arg(long)]
        pool_end: Ipv4Addr,
        /// Lease time in seconds.
        #[arg(long, default_value_t = 3600)]
        lease: u32,
        /// The site-specific option (242) every OFFER and ACK carries.
        #[arg(long)]
        site_string: String,
    },
    /// The file server with one file, `/<name of file>`, served from disk as a firmware
    /// image is.
    Http {
        /// Plain HTTP listener.
        #[arg(long)]
        listen: SocketAddrV4,
        /// HTTPS listener, with a certificate for `--listen`'s address made under a fresh lab
        /// CA (RSA 2048, as a scenario's default `tls` is).
        #[arg(long)]
        tls_listen: Option<SocketAddrV4>,
        #[arg(long)]
        file: PathBuf,
    },
    /// The registrar (UDP), with accounts `<prefix>0001`… sharing one password.
    Sip {
        #[arg(long)]
        listen: SocketAddrV4,
        #[arg(long, default_value = "lab.test")]
        realm: String,
        #[arg(long, default_value = "user")]
        user_prefix: String,
        #[arg(long, default_value_t = 1000)]
        users: u32,
        #[arg(long)]
        password: String,
    },
}

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Pki(#[from] pc_pki::PkiError),
    #[error("{what} server stopped: {source}")]
    Serve {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-servers: tokio runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-servers: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Counts the events a shell reports until the shell drops its sender.
fn drain<E: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<Stamped<E>>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    })
}

fn bind_err(what: &'static str, addr: impl ToString) -> impl FnOnce(std::io::Error) -> BenchError {
    let addr = addr.to_string();
    move |source| BenchError::Bind { what, addr, source }
}

fn tcp_listener(addr: SocketAddrV4) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::V4(addr).into())?;
    // A benchmark opens connections faster than a phone; the default backlog of 128 would
    // turn a burst of connects into SYN retries that measure the kernel, not the server.
    s.listen(1024)?;
    Ok(s.into())
}

async fn run(args: Args) -> Result<(), BenchError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let tap: Arc<dyn Tap> = Arc::new(NoTap);
    let mut servers = Vec::new();
    let name: &'static str;
    let mut ready = Vec::new();
    let counted;

    match args.server {
        Server::Dhcp {
            iface,
            server_ip,
            mask,
            pool_start,
            pool_end,
            lease,
            site_string,
        } => {
            name = "dhcp";
            let recv = (|| {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.set_broadcast(true)?;
                s.bind_device(Some(iface.as_bytes()))?;
                s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 67)).into())?;
                Ok::<UdpSocket, std::io::Error>(s.into())
            })()
            .map_err(bind_err("dhcp", format!("0.0.0.0:67 on {iface}")))?;
            let raw = pc_capture::rawsock::RawSocket::open(&iface)
                .map_err(bind_err("dhcp raw socket", &iface))?;
            let config = pc_dhcp::server::ServerConfig {
                server_ip,
                subnet_mask: mask,
                router: Some(server_ip),
                pool_start,
                pool_end,
                lease_time: Some(lease),
                site_string: Some(site_string.into_bytes()),
                ..Default::default()
            };
            let (tx, rx) = mpsc::unbounded_channel();
            counted = drain(rx);
            servers.push(tokio::spawn(async move {
                pc_dhcp::shell::run(
                    pc_dhcp::server::DhcpServer::new(config),
                    pc_dhcp::shell::Transport::Raw { recv, raw },
                    tap,
                    tx,
                    stop_rx,
                )
                .await
                .map_err(|source| BenchError::Serve {
                    what: "dhcp",
                    source,
                })
            }));
            ready.push(format!("{server_ip}:67"));
        }
        Server::Http {
            listen,
            tls_listen,
            file,
        } => {
            name = "http";
            let len = std::fs::metadata(&file)
                .map_err(|source| BenchError::File {
                    path: file.clone(),
                    source,
                })?
                .len();
            let url_path = format!(
                "/{}",
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            let mut entry =
                pc_http::files::FileEntry::serve(&url_path, bytes::Bytes::new(), SystemTime::now());
            entry.body = pc_http::body::Body::file(pc_http::body::FileBody {
                path: file.clone(),
                len,
                patches: Vec::new(),
            });
            let mut table = pc_http::files::FileTable::new();
            if let Err(e) = table.insert(&url_path, entry) {
                return Err(BenchError::File {
                    path: file,
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
                });
            }
            let files = Arc::new(table);
            let (tx, rx) = mpsc::unbounded_channel();
            counted = drain(rx);
            let listener = tcp_listener(listen).map_err(bind_err("http", listen))?;
            servers.push(tokio::spawn({
                let (files, tap, tx, stop) =
                    (files.clone(), tap.clone(), tx.clone(), stop_rx.clone());
                async move {
                    pc_http::shell::run(listener, files, tap, tx, stop)
                        .await
                        .map_err(|source| BenchError::Serve {
                            what: "http",
                            source,
                        })
                }
            }));
            ready.push(format!("http://{listen}{url_path}"));
            if let Some(addr) = tls_listen {
                let now = time::OffsetDateTime::now_utc();
                let ca = pc_pki::LabCa::generate(pc_pki::KeyKind::Rsa2048, now)?;
                let tls = ca
                    .server_identity(
                        pc_pki::ServerCertSpec {
                            cert: pc_pki::CertChoice::LabCa,
                            key: pc_pki::KeyKind::Rsa2048,
                        },
                        &[addr.ip().to_string()],
                        now,
                    )?
                    .server_config()?;
                let listener = tcp_listener(addr).map_err(bind_err("https", addr))?;
                servers.push(tokio::spawn(async move {
                    pc_http::shell::run_tls(listener, tls, files, tap, tx, stop_rx)
                        .await
                        .map_err(|source| BenchError::Serve {
                            what: "https",
                            source,
                        })
                }));
                ready.push(format!("https://{addr}{url_path}"));
            }
        }
        Server::Sip {
            listen,
            realm,
            user_prefix,
            users,
            password,
        } => {
            name = "sip";
            let socket = UdpSocket::bind(listen).map_err(bind_err("sip", listen))?;
            let config = pc_sip::registrar::RegistrarConfig {
                domain: realm.clone(),
                realm,
                accounts: (1..=users)
                    .map(|i| (format!("{user_prefix}{i:04}"), password.clone()))
                    .collect(),
                ..Default::default()
            };
            let (tx, rx) = mpsc::unbounded_channel();
            counted = drain(rx);
            servers.push(tokio::spawn(async move {
                pc_sip::shell::run_udp(
                    pc_sip::registrar::Registrar::new(config),
                    socket,
                    tap,
                    tx,
                    stop_rx,
                )
                .await
                .map_err(|source| BenchError::Serve {
                    what: "sip",
                    source,
                })
            }));
            ready.push(format!("udp:{listen}"));
        }
    }

    println!("ready {name} {}", ready.join(" "));
    // The scripts read the ready line through a pipe: it must not wait in a buffer.
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(BenchError::Signal)?;
    let limit = async {
        match args.duration {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    // A server that ends on its own (an I/O error) ends the benchmark too.
    let first_end = futures_first(&mut servers);
    let early = tokio::select! {
        _ = tokio::signal::ctrl_c() => None,
        _ = term.recv() => None,
        () = limit => None,
        ended = first_end => Some(ended),
    };
    let _ = stop_tx.send(true);
    if let Some(ended) = early {
        // A task that has ended is not polled again; the others stop with the runtime.
        ended??;
        return Err(BenchError::Serve {
            what: name,
            source: std::io::Error::other("ended before it was told to stop"),
        });
    }
    for s in servers {
        s.await??;
    }
    let events = counted.await?;
    println!("stopped {name} events={events}");
    Ok(())
}

/// Resolves with the result of whichever server task ends first.
async fn futures_first(
    servers: &mut [tokio::task::JoinHandle<Result<(), BenchError>>],
) -> Result<Result<(), BenchError>, tokio::task::JoinError> {
    std::future::poll_fn(|cx| {
        for s in servers.iter_mut() {
            if let std::task::Poll::Ready(r) = std::pin::Pin::new(s).poll(cx) {
                return std::task::Poll::Ready(r);
            }
        }
        std::task::Poll::Pending
    })
    .await
}
