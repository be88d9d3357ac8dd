//! Log lines on their way to stdout: appended to a buffer by the threads
//! that log, written by a thread of their own in batches.
//!
//! Why not a channel per line (tracing-appender): at `/version`'s rate its
//! writer thread drains the channel, flushes, sleeps and is woken again for
//! the next line, so most lines cost a wake-up and a system call. Here a line
//! costs a copy under a lock that no other thread that logs takes: each thread
//! appends to a stripe of its own (with one buffer for all, the server's workers
//! waited for each other's lines, and passed the lock between their cores).
//! A thread's lines keep their order; lines of different threads were never in
//! a set order.

use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line waits for the writer at most: `kubectl logs -f` shows it
/// within this.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Stripes: the threads that log are spread over them, each thread always to the same one.
const STRIPES: usize = 8;

/// Bytes in one stripe that wake the writer before its interval is up.
const FLUSH_BYTES: usize = 32 * 1024;

/// Bytes queued in one stripe past which a thread that logs waits for the
/// writer rather than a line being dropped (the labs read every access line):
/// memory stays bounded (1 MiB in all) when stdout is slow.
const MAX_STRIPE_BYTES: usize = 1024 * 1024 / STRIPES;

/// The logging side: what the log subscriber writes its lines to.
#[derive(Clone)]
pub struct LogWriter(Arc<Queue>);

/// The writer thread's side: dropping it writes what is queued and stops it.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogWriterGuard {
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
}

struct Queue {
    stripes: [Stripe; STRIPES],
    /// Whether the service is ending: read on every line, so not behind a lock all threads take.
    closed: AtomicBool,
    /// What the writer waits on `wake` with.
    waiting: Mutex<()>,
    /// Wakes the writer: a full stripe, or the end.
    wake: Condvar,
}

#[derive(Default)]
struct Stripe {
    lines: Mutex<Vec<u8>>,
    /// Threads that log wait on it for room.
    written: Condvar,
}

/// Locks, keeping what a thread that panicked while logging left (whole lines or none).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// This thread's stripe, given out in turn as threads first log.
    static STRIPE: Cell<Option<usize>> = const { Cell::new(None) };
}

fn this_threads_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    STRIPE.with(|stripe| {
        *stripe.get().get_or_insert_with(|| {
            let index = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            stripe.set(Some(index));
            index
        })
    })
}

/// Starts the writer thread for `out`.
pub fn log_writer(out: impl Write + Send + 'static) -> (LogWriter, LogWriterGuard) {
    let queue = Arc::new(Queue {
        stripes: Default::default(),
        closed: AtomicBool::new(false),
        waiting: Mutex::new(()),
        wake: Condvar::new(),
    });
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let queue = queue.clone();
            move || write_batches(&queue, out)
        })
        .ok();
    let guard = LogWriterGuard {
        queue: queue.clone(),
        thread,
    };
    (LogWriter(queue), guard)
}

fn write_batches(queue: &Queue, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        drop(
            queue
                .wake
                .wait_timeout_while(lock(&queue.waiting), FLUSH_INTERVAL, |()| {
                    !queue.is_closed() && !queue.stripes.iter().any(Stripe::full)
                })
                .unwrap_or_else(PoisonError::into_inner),
        );
        // Read before the stripes are drained: a line queued after its stripe was drained
        // saw `closed` (under the stripe's lock) and went to stdout itself.
        let closed = queue.is_closed();
        for stripe in &queue.stripes {
            std::mem::swap(&mut *lock(&stripe.lines), &mut batch);
            stripe.written.notify_all();
            if !batch.is_empty() {
                // Nowhere to report a failing stdout: the lines are lost, the service goes on.
                let _ = out.write_all(&batch);
                batch.clear();
            }
        }
        let _ = out.flush();
        if closed {
            return;
        }
    }
}

impl Queue {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Stripe {
    fn full(&self) -> bool {
        lock(&self.lines).len() >= FLUSH_BYTES
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        {
            // Under the writer's lock, so that the wake-up cannot fall between its check and its wait.
            let _waiting = lock(&self.queue.waiting);
            self.queue.closed.store(true, Ordering::Release);
        }
        self.queue.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for LogWriter {
    /// Queues `bytes`: the log subscriber writes one whole line per call.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let queue = &self.0;
        let stripe = &queue.stripes[this_threads_stripe()];
        let mut lines = lock(&stripe.lines);
        while lines.len() + bytes.len() > MAX_STRIPE_BYTES && !lines.is_empty() {
            if queue.is_closed() {
                break;
            }
            queue.wake.notify_one();
            // Bounded: the writer may have drained the stripe just before we waited.
            lines = stripe
                .written
                .wait_timeout(lines, FLUSH_INTERVAL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if queue.is_closed() {
            // The writer is gone (the service is ending): straight to stdout.
            drop(lines);
            return std::io::stdout().write(bytes);
        }
        lines.extend_from_slice(bytes);
        if lines.len() >= FLUSH_BYTES && lines.len() - bytes.len() < FLUSH_BYTES {
            queue.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// What the writer thread wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Written {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("text")
        }
    }

    #[test]
    fn a_line_reaches_stdout_within_the_interval() {
        let written = Written::default();
        let (mut writer, _guard) = log_writer(written.clone());
        writer.write_all(b"one line\n").expect("queued");
        let started = Instant::now();
        while written.text().is_empty() && started.elapsed() < FLUSH_INTERVAL * 20 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(written.text(), "one line\n");
    }

    #[test]
    fn every_line_is_written_in_order_and_the_rest_when_the_guard_drops() {
        let written = Written::default();
        let (writer, guard) = log_writer(written.clone());
        // Several threads, 4 MiB in all: more than the queue holds, so they wait for room.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        let line = format!("thread={t} line={i:05} {}\n", "x".repeat(30));
                        writer.write_all(line.as_bytes()).expect("queued");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a logging thread");
        }
        drop(guard);
        let text = written.text();
        assert_eq!(text.lines().count(), 80_000);
        for t in 0..4 {
            let numbers: Vec<usize> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread={t} ")))
                .map(|l| l[14..19].parse().expect("a line number"))
                .collect();
            assert_eq!(numbers, (0..20_000).collect::<Vec<_>>(), "thread {t}");
        }
    }
}
