//! A fault-injecting TCP proxy on loopback: forwards to a target port and
//! can throttle the client-to-server direction to a set rate, stall it, or
//! cut every connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug)]
struct Ctl {
    /// Bytes per second client -> server; 0 = unlimited.
    rate: AtomicU64,
    stalled: AtomicBool,
    cut: watch::Sender<u64>,
    /// Bytes forwarded client -> server.
    forwarded: AtomicU64,
    /// Connections opened before this count went silent: not read, not
    /// forwarded either way, not closed (a path that died without a FIN).
    frozen_before: AtomicU64,
    /// Connections accepted so far.
    accepted: AtomicU64,
}

/// The proxy; dropped, it stops.
pub struct FaultProxy {
    /// The port to connect to instead of the target.
    pub port: u16,
    ctl: Arc<Ctl>,
    rt: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// Starts a proxy to `127.0.0.1:target_port`. Its listening socket has a
    /// small receive buffer so a throttle is felt by the sender quickly.
    pub fn start(target_port: u16) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let ctl = Arc::new(Ctl {
            rate: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
            cut: watch::channel(0).0,
            forwarded: AtomicU64::new(0),
            frozen_before: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        });
        let listener = rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            sock.set_reuseaddr(true).expect("reuseaddr");
            sock.set_recv_buffer_size(32 * 1024).expect("rcvbuf");
            sock.bind("127.0.0.1:0".parse().expect("addr"))
                .expect("bind");
            sock.listen(64).expect("listen")
        });
        let port = listener.local_addr().expect("local addr").port();
        rt.spawn(accept_loop(listener, target_port, ctl.clone()));
        Self {
            port,
            ctl,
            rt: Some(rt),
        }
    }

    /// Limits client -> server to `bytes_per_sec` (0: unlimited).
    pub fn throttle(&self, bytes_per_sec: u64) {
        self.ctl.rate.store(bytes_per_sec, Ordering::SeqCst);
    }

    /// Stops (true) or resumes (false) forwarding client -> server.
    pub fn stall(&self, stalled: bool) {
        self.ctl.stalled.store(stalled, Ordering::SeqCst);
    }

    /// Closes every open connection (new ones are still accepted).
    pub fn cut(&self) {
        self.ctl.cut.send_modify(|g| *g += 1);
    }

    /// Bytes forwarded client -> server so far.
    pub fn forwarded(&self) -> u64 {
        self.ctl.forwarded.load(Ordering::SeqCst)
    }

    /// The path of every open connection goes silent both ways, without
    /// closing (a Wi-Fi blip): nothing is read or forwarded on them again.
    /// New connections pass.
    pub fn freeze_open_connections(&self) {
        let n = self.ctl.accepted.load(Ordering::SeqCst);
        self.ctl.frozen_before.store(n, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.ctl.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_millis(500));
        }
    }
}

async fn accept_loop(listener: TcpListener, target: u16, ctl: Arc<Ctl>) {
    while let Ok((client, _)) = listener.accept().await {
        let ctl = ctl.clone();
        let number = ctl.accepted.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let frozen = |ctl: &Ctl| number < ctl.frozen_before.load(Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let mut cut = ctl.cut.subscribe();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let up = async {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    while ctl.stalled.load(Ordering::SeqCst) || frozen(&ctl) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let rate = ctl.rate.load(Ordering::SeqCst);
                    // Throttled: small reads, each followed by its share of time.
                    let max = if rate == 0 {
                        buf.len()
                    } else {
                        (rate as usize / 50).clamp(1, buf.len())
                    };
                    let n = match cr.read(&mut buf[..max]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    ctl.forwarded.fetch_add(n as u64, Ordering::SeqCst);
                    if rate > 0 {
                        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                    }
                }
                let _ = sw.shutdown().await;
            };
            let down = async {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    while frozen(&ctl) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if frozen(&ctl) {
                        // Lost on the dead path.
                        continue;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = cw.shutdown().await;
            };
            tokio::select! {
                _ = async { tokio::join!(up, down) } => {}
                _ = cut.changed() => {}
            }
        });
    }
}
