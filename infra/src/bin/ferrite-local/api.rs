//! The whole API: the endpoint, `cargo lambda watch` running the functions, the pumps and the
//! gateway, started together and stopped together.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use infra::stack::{self, GroupChild};

use super::{Project, endpoint::Provisioned};

/// The running API: functions under `cargo lambda watch`, the gateway, the event pumps.
pub(crate) struct Api {
    pub(crate) watch: GroupChild,
    pub(crate) url: String,
    pub(crate) routes: Vec<infra::routes::Route>,
    pub(crate) gateway: tokio::task::JoinHandle<Result<()>>,
    /// The WebSocket API's connection URL (`ws://127.0.0.1:<port>/<stage>`) and its gateway.
    pub(crate) websocket: Option<(String, tokio::task::JoinHandle<Result<()>>)>,
    pub(crate) pumps: Vec<tokio::task::JoinHandle<()>>,
}

impl Api {
    /// Builds and starts the functions, the gateway on `ports.0`, the WebSocket gateway on
    /// `ports.2` and the pumps (Lambda API on `ports.1`). Files (environments, pump checkpoints
    /// and status) go to `dir`.
    pub(crate) async fn start(
        project: &Project,
        stack: &Provisioned,
        endpoint: &str,
        ports: (u16, u16, u16),
        dir: &Path,
        watch_log: Option<&Path>,
    ) -> Result<Self> {
        let (gateway_port, lambda_port, websocket_port) = ports;
        let (root, template) = (project.root.as_path(), &project.template);
        let mut ctx = stack.ctx.clone();
        let websocket_listener = stack::bind_websocket(template, &mut ctx, websocket_port).await?;
        let ctx = &ctx;
        stack::build_functions(root)?;
        let env_file = dir.join("functions.env");
        stack::write_env_file(
            &env_file,
            &stack::watch_env(template, ctx, endpoint)?,
            false,
        )?;
        let function_envs = dir.join("functions");
        stack::write_function_envs(
            &function_envs,
            &stack::function_envs(template, ctx, &stack.principals)?,
        )?;
        // Hot reload for `make dev` (no log file); none for a run under `exec`.
        let reload = watch_log.is_none();
        let mut watch = stack::spawn_watch(
            root,
            lambda_port,
            &env_file,
            &function_envs,
            watch_log,
            reload,
        )?;
        stack::wait_port(lambda_port, &mut watch, Duration::from_secs(120)).await?;
        let lambda_url = format!("http://127.0.0.1:{lambda_port}");
        let (address, routes, gateway) =
            stack::start_gateway(template, ctx, &lambda_url, gateway_port).await?;
        let websocket = websocket_listener
            .map(|bound| {
                stack::start_websocket_gateway(
                    template,
                    ctx,
                    &lambda_url,
                    bound,
                    endpoint,
                    &stack.principals,
                )
            })
            .transpose()?;
        let status = infra::pumps::PumpStatus::new(Some(dir.join("pumps.json")));
        let checkpoints = infra::pumps::Checkpoints::new(&dir.join("pumps"), &ctx.stack_name);
        let pumps = stack::start_pumps(
            template,
            ctx,
            endpoint,
            &lambda_url,
            &stack.principals,
            &checkpoints,
            &status,
        )
        .await?;
        let mut pumps = pumps;
        if reload {
            // `make dev` fires the schedules on their timetables; tests fire them as of a time.
            pumps
                .extend(stack::start_timetables(template, ctx, endpoint, &stack.principals).await?);
        }
        Ok(Self {
            watch,
            url: format!("http://{address}"),
            routes,
            gateway,
            websocket,
            pumps,
        })
    }

    pub(crate) fn stop(&mut self) {
        self.gateway.abort();
        if let Some((_, websocket)) = &self.websocket {
            websocket.abort();
        }
        for pump in &self.pumps {
            pump.abort();
        }
        self.watch.stop();
    }
}
