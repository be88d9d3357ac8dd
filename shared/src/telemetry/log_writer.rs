//! Log lines on their way to stdout: appended to one buffer by the threads
//! that log, written by a thread of their own in batches.
//!
//! Why not a channel per line (tracing-appender): at `/version`'s rate its
//! writer thread drains the channel, flushes, sleeps and is woken again for
//! the next line, so most lines cost a wake-up and a system call. Here a line
//! costs a copy under a lock: an access line through the subscriber took
//! ~970 ns with tracing-appender's writer and ~610 ns with this one
//! (`shared/examples/log_lines.rs`, 1,000,000 lines).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line waits for the writer at most: `kubectl logs -f` shows it
/// within this.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Queued bytes that wake the writer before its interval is up.
const FLUSH_BYTES: usize = 64 * 1024;

/// Queued bytes past which a thread that logs waits for the writer rather
/// than a line being dropped (the labs read every access line): memory stays
/// bounded when stdout is slow. About 4,000 access lines.
const MAX_QUEUED_BYTES: usize = 1024 * 1024;

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
    state: Mutex<State>,
    /// The writer waits on it for lines (or the end).
    queued: Condvar,
    /// Threads that log wait on it for room.
    written: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    closed: bool,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        // A thread that panicked while logging left whole lines or none.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the writer thread for `out`.
pub fn log_writer(out: impl Write + Send + 'static) -> (LogWriter, LogWriterGuard) {
    let queue = Arc::new(Queue {
        state: Mutex::new(State::default()),
        queued: Condvar::new(),
        written: Condvar::new(),
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
        let closed = {
            let state = queue.state();
            let (mut state, _) = queue
                .queued
                .wait_timeout_while(state, FLUSH_INTERVAL, |s| {
                    s.lines.len() < FLUSH_BYTES && !s.closed
                })
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut state.lines, &mut batch);
            queue.written.notify_all();
            state.closed
        };
        if !batch.is_empty() {
            // Nowhere to report a failing stdout: the lines are lost, the service goes on.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        if closed {
            return;
        }
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        self.queue.state().closed = true;
        self.queue.queued.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for LogWriter {
    /// Queues `bytes`: the log subscriber writes one whole line per call.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let queue = &self.0;
        let mut state = queue.state();
        while state.lines.len() + bytes.len() > MAX_QUEUED_BYTES
            && !state.lines.is_empty()
            && !state.closed
        {
            queue.queued.notify_one();
            state = queue
                .written
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.closed {
            // The writer is gone (the service is ending): straight to stdout.
            drop(state);
            return std::io::stdout().write(bytes);
        }
        state.lines.extend_from_slice(bytes);
        if state.lines.len() >= FLUSH_BYTES {
            queue.queued.notify_one();
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
