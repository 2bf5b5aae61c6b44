//! Dynamic batching, as Triton does it: requests to one model wait in a bounded queue; a worker takes the
//! first, takes what else is waiting (and with a `max_queue_delay`, waits that long for more), stacks up
//! to `max_batch_size` rows into one ONNX Runtime call and splits the outputs back. The default delay is
//! zero: requests batch when they arrive faster than the workers answer, and a lone request never waits.
//!
//! Every request was checked against the contract before it was queued. If the merged call still fails
//! (an output check, ONNX Runtime), each request of the batch is run alone, so one bad request never
//! fails its neighbours. Requests whose client went away, or whose deadline passed while queued, are
//! dropped without running.

use crate::config::ModelSettings;
use crate::error::RequestError;
use crate::metrics::Metrics;
use ferry::runtime::Model;
use ferry_spec::{Dim, TensorSpec};
use ferry_tensor::{Tensor, TensorMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What a queued request gets back.
#[derive(Debug)]
pub(crate) struct Answer {
    pub outputs: TensorMap,
    pub queued: Duration,
    pub inference: Duration,
}

pub(crate) type Reply = Result<Answer, RequestError>;

struct Job {
    inputs: TensorMap,
    rows: usize,
    /// Requests merge only when every input has the same dims after the batch axis.
    key: Vec<Vec<usize>>,
    enqueued: Instant,
    deadline: Instant,
    reply: oneshot::Sender<Reply>,
}

/// The queue and workers of one loaded model version. Dropping it closes the queue; the workers finish
/// what is queued and exit.
#[derive(Debug)]
pub(crate) struct Batcher {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
    batchable: bool,
    name: String,
}

/// Whether a model's requests can be stacked: every input and output is a tensor whose first axis is
/// the same symbolic dim (`batch`).
pub(crate) fn batch_axis(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> bool {
    let first = |t: &TensorSpec| match (t.value_type.is_tensor(), t.shape.first()) {
        (true, Some(Dim::Symbolic(s))) => Some(s.clone()),
        _ => None,
    };
    let Some(symbol) = inputs.first().and_then(first) else {
        return false;
    };
    inputs.iter().chain(outputs).all(|t| first(t).as_deref() == Some(symbol.as_str()))
}

impl Batcher {
    /// Starts the workers of a model.
    pub(crate) fn start(
        model: Arc<Model>,
        name: String,
        settings: ModelSettings,
        batchable: bool,
        values: bool,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Batcher> {
        let (tx, rx) = std::sync::mpsc::sync_channel(settings.max_queue);
        let rx = Arc::new(Mutex::new(rx));
        let depth = Arc::new(AtomicUsize::new(0));
        let max_batch = if batchable { settings.max_batch_size } else { 1 };
        for i in 0..settings.instances {
            let worker = Worker {
                model: Arc::clone(&model),
                rx: Arc::clone(&rx),
                depth: Arc::clone(&depth),
                max_batch,
                values,
                delay: settings.max_queue_delay,
                metrics: Arc::clone(&metrics),
                name: name.clone(),
            };
            std::thread::Builder::new()
                .name(format!("ferry-batch-{name}-{i}"))
                .spawn(move || worker.run())?;
        }
        Ok(Batcher { tx, depth, capacity: settings.max_queue, batchable, name })
    }

    /// Requests waiting now.
    pub(crate) fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Queues a request the contract accepted; `Overloaded` when the queue is full.
    pub(crate) fn submit(
        &self,
        inputs: TensorMap,
        deadline: Instant,
    ) -> Result<oneshot::Receiver<Reply>, RequestError> {
        let (rows, key) = if self.batchable {
            let rows = inputs.values().next().and_then(|t| t.shape.first().copied()).unwrap_or(0);
            (rows, inputs.values().map(|t| t.shape.get(1..).unwrap_or_default().to_vec()).collect())
        } else {
            (0, Vec::new())
        };
        let (reply, answer) = oneshot::channel();
        let job = Job { inputs, rows, key, enqueued: Instant::now(), deadline, reply };
        // Counted before the send so that a worker's decrement never sees it negative.
        self.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => Ok(answer),
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => RequestError::Overloaded {
                        model: self.name.clone(),
                        capacity: self.capacity,
                        retry_after: Duration::from_secs(1),
                    },
                    TrySendError::Disconnected(_) => {
                        RequestError::Unavailable(format!("model `{}` is being unloaded", self.name))
                    }
                })
            }
        }
    }
}

struct Worker {
    model: Arc<Model>,
    rx: Arc<Mutex<Receiver<Job>>>,
    depth: Arc<AtomicUsize>,
    max_batch: usize,
    /// The model gives sequences or maps besides tensors (an skl2onnx ZipMap): run it through
    /// `infer_values` and answer its tensors.
    values: bool,
    delay: Duration,
    metrics: Arc<Metrics>,
    name: String,
}

impl Worker {
    fn run(self) {
        let mut carry: Option<Job> = None;
        loop {
            // A request that did not fit the last batch runs now, on its own: waiting for the queue's
            // lock could leave it behind another worker blocked on an empty queue until its deadline.
            if let Some(job) = carry.take() {
                self.run_batch(vec![job]);
                continue;
            }
            let batch = {
                let rx = self.rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let first = match rx.recv() {
                    Ok(job) => {
                        self.depth.fetch_sub(1, Ordering::Relaxed);
                        job
                    }
                    // Every sender is gone and the queue is empty: the model was unloaded.
                    Err(_) => return,
                };
                let mut rows = first.rows;
                let mut batch = vec![first];
                if self.max_batch > 1 {
                    let until = Instant::now() + self.delay;
                    while rows < self.max_batch {
                        // With no delay, a batch is what is already waiting: greedy batching, which
                        // costs a lone request nothing.
                        let next = if self.delay.is_zero() {
                            rx.try_recv().map_err(|_| RecvTimeoutError::Timeout)
                        } else {
                            rx.recv_timeout(until.saturating_duration_since(Instant::now()))
                        };
                        match next {
                            Ok(job) => {
                                self.depth.fetch_sub(1, Ordering::Relaxed);
                                if rows + job.rows > self.max_batch {
                                    carry = Some(job);
                                    break;
                                }
                                rows += job.rows;
                                batch.push(job);
                            }
                            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                        }
                    }
                }
                batch
            };
            self.run_batch(batch);
        }
    }

    fn run_batch(&self, batch: Vec<Job>) {
        let now = Instant::now();
        let mut groups: Vec<Vec<Job>> = Vec::new();
        for job in batch {
            if job.reply.is_closed() {
                continue;
            }
            if now > job.deadline {
                let waited = now - job.enqueued;
                let _ = job.reply.send(Err(RequestError::Deadline(waited)));
                continue;
            }
            match groups.iter_mut().find(|g| g.first().is_some_and(|j| j.key == job.key)) {
                Some(g) => g.push(job),
                None => groups.push(vec![job]),
            }
        }
        for group in groups {
            if group.len() == 1 {
                for job in group {
                    self.run_one(job, now);
                }
            } else {
                self.run_merged(group, now);
            }
        }
    }

    fn infer(&self, inputs: &TensorMap, rows: usize) -> Result<TensorMap, RequestError> {
        self.metrics.batch(&self.name, rows.max(1));
        if self.values {
            let values = ferry_tensor::values_from_tensors(inputs.clone());
            let outputs = self.model.infer_values(&values).map_err(RequestError::from)?;
            return Ok(outputs
                .into_iter()
                .filter_map(|(k, v)| match v {
                    ferry_tensor::Value::Tensor(t) => Some((k, t)),
                    _ => None,
                })
                .collect());
        }
        self.model.infer(inputs).map_err(RequestError::from)
    }

    fn run_one(&self, job: Job, dequeued: Instant) {
        let start = Instant::now();
        let result = self.infer(&job.inputs, job.rows);
        let answer = result.map(|outputs| Answer {
            outputs,
            queued: dequeued.saturating_duration_since(job.enqueued),
            inference: start.elapsed(),
        });
        let _ = job.reply.send(answer);
    }

    fn run_merged(&self, group: Vec<Job>, dequeued: Instant) {
        let rows: Vec<usize> = group.iter().map(|j| j.rows).collect();
        let total: usize = rows.iter().sum();
        let start = Instant::now();
        let merged = merge(&group)
            .and_then(|inputs| self.infer(&inputs, total).ok())
            .and_then(|outputs| split(outputs, &rows));
        match merged {
            Some(parts) => {
                let inference = start.elapsed();
                for (job, outputs) in group.into_iter().zip(parts) {
                    let queued = dequeued.saturating_duration_since(job.enqueued);
                    let _ = job.reply.send(Ok(Answer { outputs, queued, inference }));
                }
            }
            // Something in the batch failed as a whole: answer each request on its own.
            None => {
                for job in group {
                    self.run_one(job, dequeued);
                }
            }
        }
    }
}

fn merge(group: &[Job]) -> Option<TensorMap> {
    let first = group.first()?;
    let mut merged = TensorMap::new();
    for name in first.inputs.keys() {
        let parts: Vec<&Tensor> = group.iter().map(|j| j.inputs.get(name)).collect::<Option<_>>()?;
        merged.insert(name.clone(), Tensor::concat_rows(&parts)?);
    }
    Some(merged)
}

fn split(outputs: TensorMap, rows: &[usize]) -> Option<Vec<TensorMap>> {
    let mut parts = vec![TensorMap::new(); rows.len()];
    for (name, t) in outputs {
        for (part, piece) in parts.iter_mut().zip(t.split_rows(rows)?) {
            part.insert(name.clone(), piece);
        }
    }
    Some(parts)
}
