//! `loadgen`: a bounded, loopback-only HTTP load generator for Hookgate.
//!
//! Every request is signed here (stripe, standard-webhooks or adyen) with a
//! unique provider event id, so the gateway stores each one instead of
//! answering "duplicate". A run stops at `--requests` or `--duration`,
//! whichever comes first (hard caps: 10,000,000 requests, 600 s).
//!
//! - closed loop (default): `--connections C` keep-alive connections, each
//!   sending its next request as soon as the previous answer arrived: the
//!   maximum throughput.
//! - open loop (`--rate R`): request `i` is scheduled at `start + i/R`;
//!   latency is measured from that scheduled time, not from when a
//!   connection was free, so a stalled server shows in the percentiles
//!   instead of slowing the generator down (no coordinated omission).
//!   A pacer thread releases the requests as they fall due, waking every
//!   [`PACE`]: tokio's timers tick in whole milliseconds and would add up
//!   to a millisecond of the generator's own lateness to every latency
//!   (bare hyper measured p50 1.2 ms, p99 4 ms at 7,000 req/s that way).
//!
//! `loadgen sink` is the other end: an HTTP server that answers 200 to
//! every delivery and reports deliveries/s and the end-to-end latency from
//! the `sent_at_ns` the generator embedded in the provider payload (the
//! gateway forwards it unchanged inside the CloudEvent `data`).
//!
//! `loadgen hang` is a sick subscriber: it accepts connections and never
//! answers (reads and discards what arrives until the peer closes), for the
//! "sick neighbour" scenario (`benches/neighbour.sh`).

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use hookgate_benches::load::{
    self, Counts, MAX_REQUESTS, MAX_SECONDS, Scheme, Signer, Summary, find_order, find_sent_at_ns,
    loopback_listen, loopback_target, unix_nanos,
};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Bounded loopback load generator for Hookgate (and `loadgen sink`, a delivery receiver)",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Receive deliveries, answer 200, report deliveries/s and end-to-end latency.
    Sink(SinkArgs),
    /// Accept connections and never answer (a hanging subscriber).
    Hang(HangArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemeArg {
    Stripe,
    StandardWebhooks,
    Adyen,
}

impl From<SchemeArg> for Scheme {
    fn from(s: SchemeArg) -> Self {
        match s {
            SchemeArg::Stripe => Scheme::Stripe,
            SchemeArg::StandardWebhooks => Scheme::StandardWebhooks,
            SchemeArg::Adyen => Scheme::Adyen,
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// Target URL; must be http:// on 127.0.0.0/8, [::1] or localhost.
    #[arg(long, required = true)]
    url: Option<String>,
    /// Signing scheme of the generated requests.
    #[arg(long, value_enum, default_value = "stripe")]
    scheme: SchemeArg,
    /// The source's secret as in the gateway config (default: the bench config's).
    #[arg(long)]
    secret: Option<String>,
    /// Provider event type (default: the scheme's usual one).
    #[arg(long)]
    event_type: Option<String>,
    /// Body size in bytes (the JSON is padded to it).
    #[arg(long, default_value_t = 1024)]
    body_size: usize,
    /// Stripe only: spread the events over this many objects
    /// (`data.object.id`, the event's subject), for ordering keys; 0: one
    /// object per event.
    #[arg(long, default_value_t = 0)]
    keys: u64,
    /// Stop after this many requests (cap 10,000,000).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Stop after this many seconds (cap 600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Keep-alive connections (closed loop: all busy back to back; open loop:
    /// how many requests may be outstanding).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Open loop: requests per second on a fixed schedule.
    #[arg(long)]
    rate: Option<f64>,
    /// Per-request timeout, seconds (a timeout counts as an error).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Tokio worker threads (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Append one CSV row to this file (header written when new).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Label of the CSV row and table.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Args)]
struct SinkArgs {
    /// Listen address; must be loopback.
    #[arg(long, default_value = "127.0.0.1:7001")]
    listen: String,
    /// Stop after this many deliveries (0: only by timeout or idleness).
    #[arg(long, default_value_t = 0)]
    expect: u64,
    /// Stop after this many seconds in any case (cap 600).
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Stop after this many seconds without a delivery, once one arrived.
    #[arg(long, default_value_t = 5.0)]
    idle: f64,
    /// Tokio worker threads (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Append one CSV row to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Label of the CSV row and table.
    #[arg(long, default_value = "sink")]
    label: String,
    /// Answer each delivery only after this many milliseconds (a subscriber
    /// that does work before its 2xx; 0: at once; cap 10,000).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

#[derive(Args)]
struct HangArgs {
    /// Listen address; must be loopback.
    #[arg(long, default_value = "127.0.0.1:7002")]
    listen: String,
    /// Stop after this many seconds in any case (cap 600).
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Connections held open at once; beyond it new ones are closed at once.
    #[arg(long, default_value_t = 4096)]
    max_connections: u64,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Some(Command::Sink(a)) => a.threads,
        Some(Command::Hang(a)) => Some(a.threads),
        None => cli.run.threads,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Sink(args)) => rt.block_on(sink(args)),
        Some(Command::Hang(args)) => rt.block_on(hang(args)),
        None => rt.block_on(run(cli.run)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn check_seconds(name: &str, v: f64) -> Result<Duration, String> {
    if !(v > 0.0 && v <= MAX_SECONDS) {
        return Err(format!(
            "{name} must be in (0, {MAX_SECONDS}] seconds, got {v}"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

// === generator ===

struct Plan {
    addr: SocketAddr,
    authority: String,
    path: String,
    signer: Signer,
    max_requests: u64,
    next: AtomicU64,
    start: Instant,
    deadline: Instant,
    /// Open loop: nanoseconds between scheduled sends.
    interval_ns: Option<f64>,
    /// Open loop: one permit per request that fell due (see [`pace`]);
    /// closed at the deadline.
    due: tokio::sync::Semaphore,
    timeout: Duration,
}

/// How often the open loop's pacer releases the requests that fell due.
const PACE: Duration = Duration::from_micros(200);

/// The open loop's pacer, on a thread of its own: a permit for every
/// request whose scheduled time has come, until the deadline or the last
/// request. (`std::thread::sleep` wakes within tens of microseconds.)
///
/// At the deadline the semaphore is closed: what fell due but found no
/// free connection by then is not sent. Once the last request is
/// released it is not closed (a closed semaphore refuses the permits it
/// still holds): every worker gets one more permit instead, and stops at
/// the request count.
fn pace(plan: &Plan, interval_ns: f64, workers: usize) {
    let mut released = 0u64;
    loop {
        let now = Instant::now();
        if now >= plan.deadline {
            plan.due.close();
            return;
        }
        if released >= plan.max_requests {
            plan.due.add_permits(workers);
            return;
        }
        let elapsed = now.duration_since(plan.start).as_nanos() as f64;
        let due = ((elapsed / interval_ns) as u64 + 1).min(plan.max_requests);
        if due > released {
            plan.due.add_permits((due - released) as usize);
            released = due;
        }
        std::thread::sleep(PACE);
    }
}

struct WorkerResult {
    hist: Histogram<u64>,
    counts: Counts,
}

async fn run(args: RunArgs) -> Result<(), String> {
    let url = args.url.as_deref().ok_or("--url is required")?;
    let (addr, uri) = loopback_target(url)?;
    if args.requests == 0 || args.requests > MAX_REQUESTS {
        return Err(format!("--requests must be in 1..={MAX_REQUESTS}"));
    }
    let duration = check_seconds("--duration", args.duration)?;
    let timeout = check_seconds("--timeout", args.timeout)?;
    if args.connections == 0 || args.connections > 10_000 {
        return Err("--connections must be in 1..=10000".into());
    }
    if args.body_size > 16 * 1024 * 1024 {
        return Err("--body-size is capped at 16 MiB".into());
    }
    let interval_ns = match args.rate {
        Some(r) if r > 0.0 && r <= 10_000_000.0 => Some(1e9 / r),
        Some(r) => return Err(format!("--rate must be in (0, 10000000], got {r}")),
        None => None,
    };
    let scheme: Scheme = args.scheme.into();
    let secret = args
        .secret
        .clone()
        .unwrap_or_else(|| scheme.default_secret().to_string());
    let event_type = args
        .event_type
        .clone()
        .unwrap_or_else(|| scheme.default_type().to_string());
    // A run id keeps event ids unique across runs against the same store.
    let run_id = format!("{:x}", unix_nanos() ^ (rand::random::<u64>() >> 16));
    if args.keys > 0 && scheme != Scheme::Stripe {
        return Err("--keys: stripe only".into());
    }
    let signer =
        Signer::new(scheme, &secret, &event_type, &run_id, args.body_size)?.with_keys(args.keys);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| addr.to_string());

    let start = Instant::now();
    let plan = Arc::new(Plan {
        addr,
        authority,
        path,
        signer,
        max_requests: args.requests,
        next: AtomicU64::new(0),
        start,
        deadline: start + duration,
        interval_ns,
        due: tokio::sync::Semaphore::new(0),
        timeout,
    });
    if let Some(ns) = interval_ns {
        let (plan, connections) = (plan.clone(), args.connections);
        std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || pace(&plan, ns, connections))
            .map_err(|e| format!("cannot start the pacer: {e}"))?;
    }
    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        tasks.push(tokio::spawn(worker(plan.clone())));
    }
    let mut hist = load::histogram();
    let mut counts = Counts::default();
    // Workers stop at the deadline; one stuck past it is bounded by the
    // request timeout, and the whole run by this outer bound.
    let outer = duration + timeout + Duration::from_secs(5);
    for t in tasks {
        match tokio::time::timeout_at(start + outer, t).await {
            Ok(Ok(r)) => {
                hist.add(&r.hist)
                    .map_err(|e| format!("histogram merge: {e}"))?;
                counts.add(&r.counts);
            }
            Ok(Err(e)) => return Err(format!("a worker failed: {e}")),
            Err(_) => return Err("a worker overran the run's time bound".into()),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let answered = counts.answered();
    let per_s = answered as f64 / elapsed;
    let mut note = String::new();
    if let Some(r) = args.rate {
        note = format!(
            "achieved_rate={:.1}",
            (answered + counts.errors) as f64 / elapsed
        );
        if per_s < 0.95 * r {
            note.push_str(" (below target: the generator or server fell behind; latency counts from schedule)");
        }
    }
    let summary = Summary {
        label: &args.label,
        kind: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        scheme: scheme.name(),
        connections: args.connections,
        target_rate: args.rate.unwrap_or(0.0),
        body_size: args.body_size,
        elapsed_s: elapsed,
        per_s,
        hist: &hist,
        counts,
        note,
    };
    print!("{}", summary.table());
    if let Some(csv) = &args.csv {
        summary
            .append_csv(csv)
            .map_err(|e| format!("{}: {e}", csv.display()))?;
    }
    Ok(())
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(plan: &Plan) -> Result<Sender, String> {
    let stream = tokio::time::timeout(plan.timeout, TcpStream::connect(plan.addr))
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(sender: &mut Sender, req: Request<Full<Bytes>>) -> Result<u16, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    resp.into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

async fn worker(plan: Arc<Plan>) -> WorkerResult {
    let mut hist = load::histogram();
    let mut counts = Counts::default();
    let mut sender: Option<Sender> = None;
    let mut first_error = true;
    loop {
        if plan.interval_ns.is_some() {
            // One permit per request due; none left once the pacer closed.
            match plan.due.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
        }
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.max_requests {
            break;
        }
        let scheduled = match plan.interval_ns {
            // Due already: its permit was released at or after this time.
            Some(ns) => plan.start + Duration::from_nanos((i as f64 * ns) as u64),
            None => Instant::now(),
        };
        if Instant::now() >= plan.deadline {
            break;
        }
        let s = match sender.take() {
            Some(s) if !s.is_closed() => Some(s),
            _ => match connect(&plan).await {
                Ok(s) => Some(s),
                Err(e) => {
                    if first_error {
                        eprintln!("loadgen: {e}");
                        first_error = false;
                    }
                    counts.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    None
                }
            },
        };
        let Some(mut s) = s else { continue };
        let signed = plan.signer.sign(i);
        let mut req = Request::post(plan.path.as_str())
            .header(header::HOST, plan.authority.as_str())
            .header(header::CONTENT_TYPE, "application/json");
        for (k, v) in signed.headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(signed.body)))
            .expect("valid request");
        match tokio::time::timeout(plan.timeout, send(&mut s, req)).await {
            Ok(Ok(status)) => {
                let us = scheduled.elapsed().as_micros() as u64;
                hist.saturating_record(us.max(1));
                counts.status(status);
                sender = Some(s);
            }
            Ok(Err(e)) => {
                if first_error {
                    eprintln!("loadgen: request failed: {e}");
                    first_error = false;
                }
                counts.errors += 1;
            }
            Err(_) => counts.errors += 1,
        }
    }
    WorkerResult { hist, counts }
}

// === sink ===

struct SinkState {
    count: AtomicU64,
    stats: Mutex<SinkStats>,
    done: tokio::sync::Notify,
    expect: u64,
}

struct SinkStats {
    hist: Histogram<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
    per_path: BTreeMap<String, u64>,
    seen: HashSet<(String, String)>,
    duplicates: u64,
    no_timestamp: u64,
    /// Highest `order_seq` seen per (subscription, `order_key`).
    order: HashMap<(String, String), u64>,
    /// Deliveries that came after a later event of their key.
    out_of_order: u64,
}

async fn sink(args: SinkArgs) -> Result<(), String> {
    let addr = loopback_listen(&args.listen)?;
    let timeout = check_seconds("--timeout", args.timeout)?;
    let idle = check_seconds("--idle", args.idle)?;
    if args.delay_ms > 10_000 {
        return Err("--delay-ms: at most 10000".into());
    }
    let delay = Duration::from_millis(args.delay_ms);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    let state = Arc::new(SinkState {
        count: AtomicU64::new(0),
        stats: Mutex::new(SinkStats {
            hist: load::histogram(),
            first: None,
            last: None,
            per_path: BTreeMap::new(),
            seen: HashSet::new(),
            duplicates: 0,
            no_timestamp: 0,
            order: HashMap::new(),
            out_of_order: 0,
        }),
        done: tokio::sync::Notify::new(),
        expect: args.expect,
    });
    println!("sink listening on {addr}");
    let accept_state = state.clone();
    let acceptor = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let st = accept_state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| receive(st.clone(), req, delay));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });

    let started = Instant::now();
    let hard = started + timeout;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    let why = loop {
        tokio::select! {
            _ = state.done.notified() => break "expected count reached",
            _ = term.recv() => break "SIGTERM",
            _ = tokio::signal::ctrl_c() => break "SIGINT",
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let now = Instant::now();
        if args.expect > 0 && state.count.load(Ordering::Relaxed) >= args.expect {
            break "expected count reached";
        }
        if now >= hard {
            break "timeout";
        }
        let last = state.stats.lock().expect("sink stats").last;
        if let Some(last) = last
            && now.duration_since(last) >= idle
        {
            break "idle";
        }
    };
    acceptor.abort();
    let stats = state.stats.lock().expect("sink stats");
    let n = state.count.load(Ordering::Relaxed);
    let window = match (stats.first, stats.last) {
        (Some(f), Some(l)) if l > f => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let per_s = if window > 0.0 { n as f64 / window } else { 0.0 };
    let paths: Vec<String> = stats
        .per_path
        .iter()
        .map(|(p, c)| format!("{p}={c}"))
        .collect();
    let note = format!(
        "stop={why} expected={} duplicates={} out_of_order={} keys={} no_sent_at={} paths={} [{}]",
        args.expect,
        stats.duplicates,
        stats.out_of_order,
        stats.order.len(),
        stats.no_timestamp,
        stats.per_path.len(),
        paths.join(" ")
    );
    let counts = Counts {
        s2xx: n,
        ..Counts::default()
    };
    let summary = Summary {
        label: &args.label,
        kind: "sink",
        scheme: "-",
        connections: 0,
        target_rate: 0.0,
        body_size: 0,
        elapsed_s: window,
        per_s,
        hist: &stats.hist,
        counts,
        note,
    };
    println!(
        "(latency = end to end: generator send -> sink received; per_s over first..last delivery)"
    );
    print!("{}", summary.table());
    if let Some(csv) = &args.csv {
        summary
            .append_csv(csv)
            .map_err(|e| format!("{}: {e}", csv.display()))?;
    }
    Ok(())
}

async fn receive(
    state: Arc<SinkState>,
    req: Request<Incoming>,
    delay: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let key = (header("hookgate-subscription"), header("webhook-id"));
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Full::new(Bytes::new()))
                .expect("valid response"));
        }
    };
    let received = unix_nanos();
    let now = Instant::now();
    {
        let mut s = state.stats.lock().expect("sink stats");
        match find_sent_at_ns(&body) {
            Some(sent) => {
                let us = received.saturating_sub(sent) / 1000;
                s.hist.saturating_record(us.max(1));
            }
            None => s.no_timestamp += 1,
        }
        if s.first.is_none() {
            s.first = Some(now);
        }
        s.last = Some(now);
        *s.per_path.entry(path).or_insert(0) += 1;
        if let Some((order_key, seq)) = find_order(&body) {
            let last = s.order.entry((key.0.clone(), order_key)).or_insert(0);
            let late = seq < *last;
            *last = (*last).max(seq);
            if late {
                s.out_of_order += 1;
            }
        }
        if !key.1.is_empty() && !s.seen.insert(key) {
            s.duplicates += 1;
        }
    }
    let n = state.count.fetch_add(1, Ordering::Relaxed) + 1;
    if state.expect > 0 && n == state.expect {
        state.done.notify_one();
    }
    // Counted on arrival; the answer comes after the subscriber's "work".
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

// === hang ===

/// Accepts and never answers: every connection is read (and discarded) until
/// the peer closes it, so the client sees its own timeout. Bounded by
/// `--timeout` and `--max-connections`; prints what it saw on exit.
async fn hang(args: HangArgs) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let addr = loopback_listen(&args.listen)?;
    let timeout = check_seconds("--timeout", args.timeout)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    let accepted = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let turned_away = Arc::new(AtomicU64::new(0));
    println!("hang listening on {addr}");
    let (a, o, p, t) = (
        accepted.clone(),
        open.clone(),
        peak.clone(),
        turned_away.clone(),
    );
    let max = args.max_connections;
    let acceptor = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            a.fetch_add(1, Ordering::Relaxed);
            if o.load(Ordering::Relaxed) >= max {
                t.fetch_add(1, Ordering::Relaxed);
                continue; // dropped: closed at once
            }
            let now_open = o.fetch_add(1, Ordering::Relaxed) + 1;
            p.fetch_max(now_open, Ordering::Relaxed);
            let o = o.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                o.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = tokio::time::sleep(timeout) => "timeout",
    };
    acceptor.abort();
    println!(
        "hang: stop={why} accepted={} peak_open={} turned_away={}",
        accepted.load(Ordering::Relaxed),
        peak.load(Ordering::Relaxed),
        turned_away.load(Ordering::Relaxed)
    );
    Ok(())
}
