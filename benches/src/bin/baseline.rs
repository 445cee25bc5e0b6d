//! `baseline`: the ceiling the gateway is compared with. A bare hyper
//! HTTP/1.1 server (keep-alive, `TCP_NODELAY`, the same hyper builder
//! settings as Hookgate's listener) that reads each request body whole and
//! answers 200 `{"status":"accepted"}`: no verification, no store, no
//! logging. Loopback only; runs until killed or `--duration` elapses.

use bytes::Bytes;
use clap::Parser;
use hookgate_benches::load::{MAX_SECONDS, loopback_listen};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "baseline",
    about = "Bare hyper HTTP/1.1 server answering 200 to any POST"
)]
struct Args {
    /// Listen address; must be loopback.
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: String,
    /// Tokio worker threads (default: the number of CPUs, as the gateway).
    #[arg(long)]
    threads: Option<usize>,
    /// Exit after this many seconds (cap 600).
    #[arg(long, default_value_t = 600.0)]
    duration: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let addr = match loopback_listen(&args.listen) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("baseline: {e}");
            return ExitCode::from(2);
        }
    };
    if !(args.duration > 0.0 && args.duration <= MAX_SECONDS) {
        eprintln!("baseline: --duration must be in (0, {MAX_SECONDS}]");
        return ExitCode::from(2);
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    rt.block_on(async move {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("baseline: bind {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("baseline listening on {addr}");
        let serve = async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                        .await;
                });
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs_f64(args.duration), serve).await;
        ExitCode::SUCCESS
    })
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != http::Method::POST {
        return Ok(Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "POST")
            .body(Full::new(Bytes::new()))
            .expect("valid response"));
    }
    let ok = req.into_body().collect().await.is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(br#"{"status":"accepted"}"#)))
        .expect("valid response"))
}
