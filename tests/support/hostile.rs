//! A scripted hostile RTMP server on loopback: it plays one misbehaviour per
//! connection against the real client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use onair_rtmp::amf0::Value;
use onair_rtmp::chunk::{ChunkReader, ChunkWriter, MessageHeader, OutBuf};
use onair_rtmp::message::{self as msg, Command};

/// What the server does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// S0 with version 6.
    BadVersion,
    /// Accepts and never answers.
    StallHandshake,
    /// S0 and part of S1, then closes.
    ShortHandshake,
    /// Set Chunk Size with the top bit set.
    HugeChunkSize,
    /// A command header declaring 16 MiB.
    OversizedCommand,
    /// `_result` to connect nested 10 000 deep.
    AmfBomb,
    /// 20 000 Ping Requests at once, then silence.
    PingFlood,
    /// `_error` to connect, the key in its description.
    ConnectError,
    /// `onStatus NetStream.Publish.BadName`, the key in its description.
    BadName,
    /// Closes the connection right after `publish`.
    CloseAfterPublish,
    /// Random bytes after the handshake.
    Garbage,
    /// Not hostile, only unusual (pyrtmp does it): the `connect` answer
    /// comes with a format 1 chunk header on a chunk stream never used
    /// before; then publishing works and media is counted.
    Format1ConnectReply,
}

/// The server; dropped, it stops accepting.
pub struct HostileServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    media: Arc<std::sync::atomic::AtomicUsize>,
}

impl HostileServer {
    /// Starts serving `m` to every connection.
    pub fn start(m: Misbehaviour, key: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let media = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop2, key, media2) = (stop.clone(), key.to_owned(), media.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let key = key.clone();
                        let stop3 = stop2.clone();
                        let media3 = media2.clone();
                        std::thread::spawn(move || {
                            let _ = s.set_nonblocking(false);
                            let _ = serve(s, m, &key, &stop3, &media3);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, stop, media }
    }

    /// Audio and video messages received so far.
    pub fn media_messages(&self) -> usize {
        self.media.load(Ordering::SeqCst)
    }

    /// Publishing URL with `key`.
    pub fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.port)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn send(
    s: &mut TcpStream,
    w: &mut ChunkWriter,
    type_id: u8,
    stream_id: u32,
    body: Bytes,
) -> std::io::Result<()> {
    let mut out = OutBuf::default();
    let csid = if type_id == msg::COMMAND_AMF0 { 3 } else { 2 };
    w.write(
        MessageHeader {
            csid,
            timestamp: 0,
            type_id,
            stream_id,
        },
        body,
        &mut out,
    );
    while let Some(b) = out.pop() {
        s.write_all(&b)?;
    }
    Ok(())
}

fn command(
    s: &mut TcpStream,
    w: &mut ChunkWriter,
    name: &str,
    tx: f64,
    args: Vec<Value>,
) -> std::io::Result<()> {
    send(
        s,
        w,
        msg::COMMAND_AMF0,
        0,
        Command::new(name, tx, Value::Null, args).encode(),
    )
}

fn serve(
    mut s: TcpStream,
    m: Misbehaviour,
    key: &str,
    stop: &AtomicBool,
    media: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut c0c1 = [0u8; 1537];
    read_exact_or_stop(&mut s, &mut c0c1, stop)?;
    match m {
        Misbehaviour::BadVersion => {
            s.write_all(&[6u8; 3073])?;
            return idle(stop);
        }
        Misbehaviour::StallHandshake => return idle(stop),
        Misbehaviour::ShortHandshake => {
            s.write_all(&[3u8; 700])?;
            return Ok(());
        }
        _ => {}
    }
    let mut hs = vec![3u8];
    hs.extend_from_slice(&[0u8; 1536]);
    hs.extend_from_slice(&c0c1[1..]);
    s.write_all(&hs)?;
    let mut c2 = [0u8; 1536];
    read_exact_or_stop(&mut s, &mut c2, stop)?;
    let mut w = ChunkWriter::new();
    match m {
        Misbehaviour::HugeChunkSize => {
            send(
                &mut s,
                &mut w,
                msg::SET_CHUNK_SIZE,
                0,
                msg::u32_body(0x8000_0000),
            )?;
            return idle(stop);
        }
        Misbehaviour::OversizedCommand => {
            s.write_all(&[
                0x03,
                0,
                0,
                0,
                0xFF,
                0xFF,
                0xFF,
                msg::COMMAND_AMF0,
                0,
                0,
                0,
                0,
            ])?;
            s.write_all(&[0x02; 4096])?;
            return idle(stop);
        }
        Misbehaviour::Garbage => {
            let mut x: u32 = 0x1234_5678;
            let junk: Vec<u8> = (0..65_536)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            s.write_all(&junk)?;
            return idle(stop);
        }
        _ => {}
    }
    // Follow the client's commands.
    let mut r = ChunkReader::new();
    let mut buf = [0u8; 65_536];
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let n = match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        r.push(&buf[..n]);
        while let Ok(Some(message)) = r.next_message() {
            if message.header.type_id == msg::SET_CHUNK_SIZE && message.payload.len() == 4 {
                let size = u32::from_be_bytes([
                    message.payload[0],
                    message.payload[1],
                    message.payload[2],
                    message.payload[3],
                ]);
                let _ = r.set_chunk_size(size);
            }
            if matches!(message.header.type_id, msg::AUDIO | msg::VIDEO) {
                media.fetch_add(1, Ordering::SeqCst);
            }
            if message.header.type_id != msg::COMMAND_AMF0 {
                continue;
            }
            let Ok(c) = Command::decode(&message.payload) else {
                continue;
            };
            match (c.name.as_str(), m) {
                ("connect", Misbehaviour::ConnectError) => {
                    let info = Value::Object(vec![
                        ("level".into(), Value::from("error")),
                        ("code".into(), Value::from("NetConnection.Connect.Rejected")),
                        (
                            "description".into(),
                            Value::String(format!("[ AccessManager.Reject ] : key {key} refused")),
                        ),
                    ]);
                    command(&mut s, &mut w, "_error", 1.0, vec![info])?;
                }
                ("connect", Misbehaviour::AmfBomb) => {
                    let mut body = vec![0x02, 0, 7];
                    body.extend_from_slice(b"_result");
                    body.extend_from_slice(&[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
                    for _ in 0..10_000 {
                        body.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
                    }
                    body.push(0x05);
                    send(&mut s, &mut w, msg::COMMAND_AMF0, 0, Bytes::from(body))?;
                }
                ("connect", Misbehaviour::PingFlood) => {
                    for i in 0..20_000u32 {
                        send(
                            &mut s,
                            &mut w,
                            msg::USER_CONTROL,
                            0,
                            msg::user_control_body(msg::UC_PING_REQUEST, &i.to_be_bytes()),
                        )?;
                    }
                }
                ("connect", Misbehaviour::Format1ConnectReply) => {
                    let info = Value::Object(vec![
                        ("level".into(), Value::from("status")),
                        ("code".into(), Value::from("NetConnection.Connect.Success")),
                        ("description".into(), Value::from("Connection succeeded.")),
                    ]);
                    let body = Command::new(
                        "_result",
                        1.0,
                        Value::Object(vec![("fmsVer".into(), Value::from("FMS/3,0,1,123"))]),
                        vec![info],
                    )
                    .encode();
                    // Format 1 on chunk stream 3: delta 0, length, type 20;
                    // continuations at the default chunk size of 128.
                    let len = body.len() as u32;
                    let mut wire = vec![0x43, 0, 0, 0];
                    wire.extend_from_slice(&len.to_be_bytes()[1..]);
                    wire.push(msg::COMMAND_AMF0);
                    for (i, chunk) in body.chunks(128).enumerate() {
                        if i > 0 {
                            wire.push(0xC3);
                        }
                        wire.extend_from_slice(chunk);
                    }
                    s.write_all(&wire)?;
                }
                ("connect", _) => command(&mut s, &mut w, "_result", 1.0, vec![])?,
                ("publish", Misbehaviour::Format1ConnectReply) => {
                    on_status(
                        &mut s,
                        &mut w,
                        "status",
                        "NetStream.Publish.Start",
                        "Publishing.",
                    )?;
                }
                ("createStream", _) => command(
                    &mut s,
                    &mut w,
                    "_result",
                    c.transaction,
                    vec![Value::Number(1.0)],
                )?,
                ("publish", Misbehaviour::CloseAfterPublish) => return Ok(()),
                ("publish", Misbehaviour::BadName) => {
                    on_status(
                        &mut s,
                        &mut w,
                        "error",
                        "NetStream.Publish.BadName",
                        &format!("{key} is already publishing"),
                    )?;
                }
                _ => {}
            }
        }
    }
}

/// An `onStatus` on message stream 1.
fn on_status(
    s: &mut TcpStream,
    w: &mut ChunkWriter,
    level: &str,
    code: &str,
    description: &str,
) -> std::io::Result<()> {
    let info = Value::Object(vec![
        ("level".into(), Value::from(level)),
        ("code".into(), Value::from(code)),
        ("description".into(), Value::from(description)),
    ]);
    send(
        s,
        w,
        msg::COMMAND_AMF0,
        1,
        Command::new("onStatus", 0.0, Value::Null, vec![info]).encode(),
    )
}

fn read_exact_or_stop(s: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> std::io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        if stop.load(Ordering::SeqCst) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        match s.read(&mut buf[got..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn idle(stop: &AtomicBool) -> std::io::Result<()> {
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
