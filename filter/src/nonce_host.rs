//! Proxy-wasm glue for [`crate::nonce_queue`]: the producer on the main
//! thread, and the workers' end of its queue.

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use signed_headers_keys::PrecomputedNonce;
use zeroize::Zeroizing;

use crate::nonce_queue::{
    BATCH, Backlog, Pacer, ProducerSettings, QUEUE_NAME, TAKEN_KEY, WAKE_QUEUE_NAME, decode_batch,
    decode_taken, encode_batch, encode_taken,
};
use crate::{define_counter, increment_counter};

/// How many timer ticks a worker waits before looking for the queue again
/// when there is none (no producer configured, or not started yet).
const TICKS_BETWEEN_LOOKUPS: u32 = 100;
/// Tries to add to the workers' counter before giving up on one batch (the
/// producer then merely under-fills by that batch).
const COUNTER_TRIES: usize = 8;

fn read_taken() -> (u64, Option<u32>) {
    match hostcalls::get_shared_data(TAKEN_KEY) {
        Ok((value, cas)) => (decode_taken(value.as_deref()), cas),
        Err(_) => (0, None),
    }
}

/// The singleton that fills the queue, on Envoy's main thread.
pub struct NonceProducer {
    settings: ProducerSettings,
    queue: u32,
    /// Where workers say they took a batch (see [`Self::on_wake`]).
    wake_queue: u32,
    backlog: Backlog,
    pacer: Pacer,
    random_failure_logged: bool,
    queued_metric: Option<u32>,
}

impl NonceProducer {
    pub fn start(settings: ProducerSettings) -> Result<Self, String> {
        // The wake-up queue first: a worker that finds the nonce queue
        // looks for this one at once.
        let wake_queue = hostcalls::register_shared_queue(WAKE_QUEUE_NAME)
            .map_err(|status| format!("cannot register the wake-up queue: {status:?}"))?;
        let queue = hostcalls::register_shared_queue(QUEUE_NAME)
            .map_err(|status| format!("cannot register the nonce queue: {status:?}"))?;
        let (taken, cas) = read_taken();
        if cas.is_none() {
            // The workers add to the counter with compare-and-swap, which
            // needs a value to compare against.
            hostcalls::set_shared_data(TAKEN_KEY, Some(&encode_taken(0)), None)
                .map_err(|status| format!("cannot create the nonce counter: {status:?}"))?;
        }
        log::info!(
            "signed-headers: nonce producer: version={} queue_depth={} main_thread_percent={}",
            env!("CARGO_PKG_VERSION"),
            settings.queue_depth,
            settings.main_thread_percent
        );
        Ok(Self {
            settings,
            queue,
            wake_queue,
            backlog: Backlog::new(taken),
            pacer: Pacer::default(),
            random_failure_logged: false,
            queued_metric: define_counter("signed_headers.nonces_queued"),
        })
    }

    /// Whether `queue_id` is the wake-up queue, which it then empties: a
    /// worker took nonces, so the producer should tick often again.
    pub fn on_wake(&mut self, queue_id: u32) -> bool {
        if queue_id != self.wake_queue {
            return false;
        }
        while let Ok(Some(_)) = hostcalls::dequeue_shared_queue(self.wake_queue) {}
        true
    }

    /// Tops the queue up, a batch at a time, for at most the configured
    /// share of `tick`. `true` if the queue was full: nothing to do until a
    /// worker takes nonces.
    pub fn on_tick(&mut self, tick: Duration) -> bool {
        let budget = tick * u32::try_from(self.settings.main_thread_percent).unwrap_or(50) / 100;
        let (taken, _) = read_taken();
        let mut missing = self.backlog.missing(self.settings.queue_depth, taken);
        if missing == 0 {
            return true;
        }
        let Ok(started) = hostcalls::get_current_time() else {
            return false;
        };
        let since_start = |now: SystemTime| now.duration_since(started).unwrap_or(Duration::MAX);
        let mut now = started;
        loop {
            let size = self.pacer.next_batch(
                missing,
                budget.saturating_sub(since_start(now)),
                now == started,
            );
            if size == 0 {
                return false;
            }
            let batch = PrecomputedNonce::generate_batch(size);
            if batch.is_empty() {
                if !self.random_failure_logged {
                    self.random_failure_logged = true;
                    log::warn!("signed-headers: nonce producer: random source unavailable");
                }
                return false;
            }
            for entry in batch.chunks(BATCH) {
                if let Err(status) =
                    hostcalls::enqueue_shared_queue(self.queue, Some(&encode_batch(entry)))
                {
                    log::warn!("signed-headers: nonce producer: cannot queue: {status:?}");
                    return false;
                }
                self.backlog.queued(entry.len());
                increment_counter(self.queued_metric, entry.len());
                missing = missing.saturating_sub(entry.len());
            }
            let Ok(after) = hostcalls::get_current_time() else {
                return false;
            };
            self.pacer
                .observe(batch.len(), after.duration_since(now).unwrap_or_default());
            now = after;
        }
    }
}

/// A worker's end of the queue.
pub struct NonceQueueClient {
    vm_id: String,
    queue: Cell<Option<u32>>,
    /// The producer's wake-up queue, found with `queue`.
    wake_queue: Cell<Option<u32>>,
    ticks_until_lookup: Cell<u32>,
    taken_metric: Option<u32>,
}

impl NonceQueueClient {
    pub fn new() -> Self {
        let vm_id = hostcalls::get_property(vec!["plugin_vm_id"])
            .ok()
            .flatten()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        Self {
            vm_id,
            queue: Cell::new(None),
            wake_queue: Cell::new(None),
            ticks_until_lookup: Cell::new(0),
            taken_metric: define_counter("signed_headers.queued_nonces_taken"),
        }
    }

    /// Looks for the producer's queue now and then until it exists.
    pub fn on_tick(&self) {
        if self.queue.get().is_some() {
            return;
        }
        let ticks = self.ticks_until_lookup.get();
        if ticks > 0 {
            self.ticks_until_lookup.set(ticks - 1);
            return;
        }
        self.ticks_until_lookup.set(TICKS_BETWEEN_LOOKUPS);
        if let Ok(Some(queue)) = hostcalls::resolve_shared_queue(&self.vm_id, QUEUE_NAME) {
            log::debug!("signed-headers: taking nonces from the main thread's queue");
            self.queue.set(Some(queue));
            // Registered before the nonce queue, so present with it.
            self.wake_queue.set(
                hostcalls::resolve_shared_queue(&self.vm_id, WAKE_QUEUE_NAME)
                    .ok()
                    .flatten(),
            );
        }
    }

    /// One batch from the queue; none if there is no queue or it is empty.
    pub fn take(&self) -> Vec<PrecomputedNonce> {
        let Some(queue) = self.queue.get() else {
            return Vec::new();
        };
        let entry = match hostcalls::dequeue_shared_queue(queue) {
            Ok(Some(entry)) => Zeroizing::new(entry),
            Ok(None) => return Vec::new(),
            Err(_) => {
                self.queue.set(None);
                return Vec::new();
            }
        };
        let nonces = decode_batch(&entry);
        if nonces.is_empty() {
            log::warn!("signed-headers: a malformed entry in the nonce queue was dropped");
        }
        // Count the whole entry as taken: it left the queue either way.
        add_taken(entry.len() / PrecomputedNonce::BYTES);
        increment_counter(self.taken_metric, nonces.len());
        if let Some(wake_queue) = self.wake_queue.get() {
            // Best effort: without it the producer still tops up within a
            // second.
            let _ = hostcalls::enqueue_shared_queue(wake_queue, Some(&[1]));
        }
        nonces
    }
}

fn add_taken(nonces: usize) {
    for _ in 0..COUNTER_TRIES {
        let (taken, cas) = read_taken();
        let updated = encode_taken(taken.saturating_add(nonces as u64));
        match hostcalls::set_shared_data(TAKEN_KEY, Some(&updated), cas) {
            Err(Status::CasMismatch) => continue,
            _ => return,
        }
    }
}
