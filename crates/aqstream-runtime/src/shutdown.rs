//! Graceful shutdown: one token, cancelled once, observed by every task.

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal. Tasks `select!` on [`Shutdown::cancelled`] and drain
/// their in-flight work before returning.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A fresh, not yet triggered signal.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Triggers shutdown (idempotent).
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Has shutdown been triggered?
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when shutdown is triggered.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// A child signal: triggered with the parent, or on its own.
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
        }
    }

    /// Triggers this signal on SIGINT (Ctrl-C) or SIGTERM. Must be called inside a
    /// tokio runtime.
    pub fn trigger_on_signals(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term = match signal(SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("cannot listen for SIGTERM: {e}");
                        return;
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
                    _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                    _ = me.cancelled() => return,
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            me.trigger();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn children_follow_the_parent() {
        let root = Shutdown::new();
        let child = root.child();
        assert!(!child.is_triggered());
        root.trigger();
        child.cancelled().await;
        assert!(child.is_triggered());
        let other = Shutdown::new();
        other.child().trigger();
        assert!(!other.is_triggered(), "a child does not cancel its parent");
    }
}
