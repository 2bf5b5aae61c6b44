//! A host service loop: load a bundle once, then score a stream of requests from many threads.
//!
//! ```sh
//! scripts/quickstart                       # packs target/quickstart/credit-risk.ferry
//! cargo run -p ferry --example host_service -- target/quickstart/credit-risk.ferry [WORKERS]
//! ```
//!
//! The model is opened once (digests, pins and trust checked), shared by reference between worker
//! threads, and every request is checked against the bundle's contract before it reaches ONNX Runtime:
//! a bad request gets a typed error back, the service keeps serving.

use ferry::runtime::{OpenOptions, Runtime, RuntimeError, RuntimeOptions};
use ferry::tensor::{Tensor, TensorData, TensorMap};
use std::sync::mpsc;
use std::time::Instant;

const REQUESTS: usize = 20_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: host_service BUNDLE.ferry [WORKERS]")?;
    let workers: usize = std::env::args().nth(2).map(|w| w.parse()).transpose()?.unwrap_or(8);
    let runtime = Runtime::new(RuntimeOptions::default())?;
    let model = runtime.open(path.as_ref(), &OpenOptions::default())?;
    let input = model.manifest().inputs.first().ok_or("the bundle declares no input")?;
    let width = input.features.len().max(1);
    println!(
        "serving {} {} with {workers} workers",
        model.manifest().model.name,
        model.manifest().model.version
    );

    // A stream of requests: mostly valid applicants, every 1000th with an impossible age.
    let (tx, rx) = mpsc::sync_channel::<(usize, TensorMap)>(1024);
    let rx = std::sync::Mutex::new(rx);
    let started = Instant::now();
    let (scored, refused) = std::thread::scope(|s| {
        let producer = s.spawn(move || {
            for i in 0..REQUESTS {
                let mut row: Vec<f32> =
                    vec![35.0, 60000.0, 0.3, 0.4, 5.0, 0.0, 24.0, 15000.0, 36.0, 6.0, 1.0, 1.0, 1.0, 8000.0];
                row.resize(width, 0.0);
                row[1] += (i % 100) as f32 * 1000.0;
                if i % 1000 == 999 {
                    row[0] = -1.0;
                }
                let Ok(t) = Tensor::new(vec![1, width], TensorData::F32(row)) else { continue };
                if tx.send((i, TensorMap::from([(input.name.clone(), t)]))).is_err() {
                    break;
                }
            }
        });
        let workers: Vec<_> = (0..workers)
            .map(|_| {
                let (model, rx) = (&model, &rx);
                s.spawn(move || {
                    let (mut ok, mut bad) = (0usize, 0usize);
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok((i, request))) = next else { break };
                        match model.infer(&request) {
                            Ok(_) => ok += 1,
                            Err(RuntimeError::Contract(e)) => {
                                bad += 1;
                                if bad == 1 {
                                    eprintln!("request {i} refused: {e}");
                                }
                            }
                            Err(e) => eprintln!("request {i} failed: {e}"),
                        }
                    }
                    (ok, bad)
                })
            })
            .collect();
        let _ = producer.join();
        workers.into_iter().filter_map(|w| w.join().ok()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "scored {scored}, refused {refused} in {secs:.2} s ({:.0} requests/s)",
        (scored + refused) as f64 / secs
    );
    Ok(())
}
