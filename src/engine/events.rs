//! How the driver's events reach the consumer: a one-slot channel, and a stream that
//! owns both the driver future and the channel's receiver.
//!
//! The stream polls the driver itself (no spawned task), so the driver only runs
//! while the consumer reads, a slow consumer holds the driver at its next event, and
//! dropping the stream drops the driver mid-await: the request in flight is
//! cancelled and a half-open probe it held is given back.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use super::EngineEvent;
use super::breaker::BreakerState;

/// The driver's end of the channel.
#[derive(Debug)]
pub(super) struct Emitter(mpsc::Sender<EngineEvent>);

impl Emitter {
    /// Hands `event` to the consumer, waiting until it has taken the previous one.
    pub(super) async fn emit(&self, event: EngineEvent) {
        // The receiver is dropped only together with the driver that owns this
        // sender, so a send never fails while anyone is listening.
        let _ = self.0.send(event).await;
    }

    /// Reports a breaker's new state, if it changed.
    pub(super) async fn breaker(&self, backend: &str, state: Option<BreakerState>) {
        if let Some(state) = state {
            let backend = backend.to_string();
            self.emit(EngineEvent::Breaker { backend, state }).await;
        }
    }
}

type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The events of one run; ends when the driver has finished and every event it
/// sent has been read.
pub(super) struct RunStream {
    /// `None` once finished.
    driver: Option<Driver>,
    events: mpsc::Receiver<EngineEvent>,
}

impl RunStream {
    /// Starts nothing yet: `drive` runs as the stream is polled.
    pub(super) fn new<F>(drive: impl FnOnce(Emitter) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // One slot: the driver runs at most one event ahead of the consumer, as a
        // generator would.
        let (tx, events) = mpsc::channel(1);
        Self {
            driver: Some(Box::pin(drive(Emitter(tx)))),
            events,
        }
    }
}

impl Stream for RunStream {
    type Item = EngineEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EngineEvent>> {
        let this = &mut *self;
        if let Some(driver) = this.driver.as_mut()
            && driver.as_mut().poll(cx).is_ready()
        {
            // Dropping the finished driver drops its sender, which closes the
            // channel once the last event is read.
            this.driver = None;
        }
        this.events.poll_recv(cx)
    }
}
