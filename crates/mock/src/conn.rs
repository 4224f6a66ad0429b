//! Connections: a TcpStream a handler can reset (the `drop` behavior).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Accepts TCP connections and pairs each with a reset flag.
pub(crate) struct MockListener(pub(crate) TcpListener);

/// The per-connection handle handlers get through `ConnectInfo`.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub(crate) reset: Arc<AtomicBool>,
}

/// A TcpStream that fails every operation once its flag is set, which makes
/// hyper drop the connection without writing a byte; zero linger turns the close
/// into a reset.
pub(crate) struct ConnIo {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ConnIo {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::Acquire) {
            // Best effort: without it the client sees a clean close instead of RST.
            let _ = self.inner.set_zero_linger();
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "mock: connection dropped on purpose",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl Listener for MockListener {
    type Io = ConnIo;
    type Addr = Conn;

    async fn accept(&mut self) -> (ConnIo, Conn) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    // Token chunks are tiny; Nagle would hold them back.
                    let _ = stream.set_nodelay(true);
                    let reset = Arc::new(AtomicBool::new(false));
                    let conn = Conn {
                        reset: Arc::clone(&reset),
                    };
                    return (
                        ConnIo {
                            inner: stream,
                            reset,
                        },
                        conn,
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::debug!("mock: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Conn> {
        self.0.local_addr()?;
        Ok(Conn {
            reset: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, MockListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, MockListener>) -> Self {
        stream.remote_addr().clone()
    }
}
