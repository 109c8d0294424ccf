//! Connection start-up: optional TLS requirement, then SCRAM-SHA-256 against the user's
//! verifier (pgwire's SASL implementation; channel binding is not offered, so clients
//! use plain `SCRAM-SHA-256` with or without TLS).

use crate::auth::UserDb;
use async_trait::async_trait;
use futures::Sink;
use pgwire::api::ClientInfo;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::fmt::Debug;
use std::sync::Arc;

/// Looks users up for SCRAM.
#[derive(Debug)]
struct Verifiers {
    users: Arc<UserDb>,
}

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let name = login.user().unwrap_or_default();
        match self.users.get(name) {
            Some(u) => Ok((u.verifier.to_scram_secret(), None)),
            None => {
                tracing::info!(user = name, "pg login of an unknown user");
                Err(PgWireError::InvalidPassword(name.to_owned()))
            }
        }
    }
}

/// The start-up handler of the PostgreSQL surface.
pub struct Startup {
    sasl: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    require_tls: bool,
}

impl Startup {
    /// SCRAM against `users`; `require_tls` refuses connections without TLS.
    pub fn new(users: Arc<UserDb>, require_tls: bool) -> Startup {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = crate::pgcompat::catalog::setting("server_version")
            .unwrap_or("16.6")
            .to_string();
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        params.date_style = "ISO, MDY".into();
        params.time_zone = "UTC".into();
        let scram = ScramAuth::new(Arc::new(Verifiers { users }));
        Startup {
            sasl: SASLAuthStartupHandler::new(Arc::new(params)).with_scram(scram),
            require_tls,
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.require_tls
            && !client.is_secure()
            && matches!(message, PgWireFrontendMessage::Startup(_))
        {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                "this server requires TLS (connect with sslmode=require)".into(),
            ))));
        }
        self.sasl.on_startup(client, message).await
    }
}
