//! Loading and calling the component.
//!
//! - One [`Engine`] per process and configuration kind (component model, epoch interruption, and the
//!   pooling allocator when asked), with one background thread that ticks every engine's epoch.
//! - A component is compiled once per process and engine kind; the compiled artefact is also cached on
//!   disk, keyed by the SHA-256 of the wasm bytes and the engine's compatibility hash (which covers the
//!   wasmtime version and the compiler configuration). A missing, stale or unreadable cache file is
//!   replaced by a fresh compile.
//! - Each call runs in a fresh [`Store`] instantiated from a shared `InstancePre`, with WASI that grants
//!   nothing (no files, no environment, no arguments, no sockets; stdout dropped, stderr captured for
//!   error reports), wasi:http through [`OutgoingHooks`], a memory bound, and a deadline: an epoch
//!   deadline stops runaway guest code, and a timer stops a call stuck waiting on the host.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{HostSide, HostSidePre};
use crate::http::{BaseUrl, OutgoingHooks};
use crate::store::BotStore;
use crate::types::{Context, HistoryEntry, HitlError, HttpRequest, HttpResponse, MessagePayload};

/// How often the epoch ticker advances every engine's epoch; guest code yields to the executor at
/// least this often and overruns its deadline by at most about this much.
const EPOCH_TICK: Duration = Duration::from_millis(50);

/// How many compiled components the cache directory keeps (the newest; each source change makes one).
const CACHE_KEEP: usize = 8;

/// How much of the guest's stderr is kept for error reports.
const STDERR_CAPACITY: usize = 16 * 1024;

/// Options for running the component.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Send requests for `https://api.hubapi.com` to this base URL instead (scheme and authority are
    /// rewritten; path and query kept), e.g. a simulator's `http://127.0.0.1:PORT`.
    pub hubspot_base_url: Option<String>,
    /// The most linear memory one call's store may use, in bytes (default 64 MiB).
    pub max_memory_bytes: usize,
    /// How long one call may take, guest code and host waits together (default 120 s).
    pub call_timeout: Duration,
    /// Use wasmtime's pooling instance allocator (default false).
    pub pooling: bool,
    /// Where compiled components are cached (default `<target dir>/hitl-cache`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            hubspot_base_url: None,
            max_memory_bytes: 64 << 20,
            call_timeout: Duration::from_secs(120),
            pooling: false,
            cache_dir: None,
        }
    }
}

/// What makes two engines different: compiled code and instance allocation must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct EngineKind {
    pooling: bool,
    /// The pooling allocator's per-memory slot size (0 without pooling).
    pool_memory_bytes: usize,
}

impl EngineKind {
    fn of(config: &RuntimeConfig) -> Self {
        Self {
            pooling: config.pooling,
            pool_memory_bytes: if config.pooling {
                config.max_memory_bytes
            } else {
                0
            },
        }
    }
}

fn engines() -> &'static Mutex<HashMap<EngineKind, Engine>> {
    static ENGINES: OnceLock<Mutex<HashMap<EngineKind, Engine>>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        std::thread::Builder::new()
            .name("hitl-epoch-ticker".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    let engines: Vec<Engine> = engines()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .values()
                        .cloned()
                        .collect();
                    for engine in engines {
                        engine.increment_epoch();
                    }
                }
            })
            .expect("spawning the epoch ticker thread");
        Mutex::new(HashMap::new())
    })
}

/// The process-wide engine of `kind`, made on first use.
fn engine(kind: EngineKind) -> Result<Engine> {
    let mut engines = engines().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(engine) = engines.get(&kind) {
        return Ok(engine.clone());
    }
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Profiling: with HITL_PERFMAP set, wasmtime writes /tmp/perf-<pid>.map so that `perf report`
    // names the guest's functions (build the component unstripped to get its own names).
    if std::env::var_os("HITL_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if kind.pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(100)
            .total_core_instances(1000)
            .total_memories(200)
            .total_tables(1000)
            .max_memory_size(kind.pool_memory_bytes);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")?;
    engines.insert(kind, engine.clone());
    Ok(engine)
}

/// The data of one call's [`Store`]: the call's installation, the bot store, WASI and limits.
pub(crate) struct CallState {
    /// The installation this call is for; host imports record under its integration id.
    pub(crate) call: Context,
    /// The bot side.
    pub(crate) bot: BotStore,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutgoingHooks,
    table: ResourceTable,
    limits: CallLimiter,
}

/// wasmtime's [`StoreLimits`] (the memory bound, trapping on a refused grow), plus the call's linear
/// memory in use, whose highest value is kept in the runtime's peak.
struct CallLimiter {
    limits: StoreLimits,
    memory: usize,
    peak: Arc<AtomicUsize>,
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory = self.memory.saturating_sub(current).saturating_add(desired);
            self.peak.fetch_max(self.memory, Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Components compiled in this process, by engine kind and wasm hash.
type PreCache = tokio::sync::Mutex<HashMap<(EngineKind, [u8; 32]), HostSidePre<CallState>>>;

fn pre_cache() -> &'static PreCache {
    static CACHE: OnceLock<PreCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The default cache directory: `<target dir>/hitl-cache`.
fn default_cache_dir() -> PathBuf {
    crate::component::target_dir().join("hitl-cache")
}

/// The cache file for `wasm` compiled by `engine`.
fn cache_file(dir: &Path, wasm_hash: &[u8; 32], engine: &Engine) -> PathBuf {
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut key = Sha256::new();
    key.update(wasm_hash);
    key.update(compat.finish().to_le_bytes());
    dir.join(format!(
        "hubspot-hitl-{}.cwasm",
        hex::encode(key.finalize())
    ))
}

/// Where a component came from: the cache file or a fresh compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled earlier in this process.
    Memory,
    /// Deserialized from the on-disk cache.
    DiskCache,
    /// Compiled now (and written to the cache when possible).
    Compiled,
}

/// Loads the component from the disk cache, or compiles it and writes the cache.
fn load_component(
    engine: &Engine,
    wasm: &[u8],
    cache: Option<&Path>,
) -> Result<(Component, LoadSource)> {
    if let Some(file) = cache
        && file.exists()
    {
        // SAFETY: the file is one this host wrote (atomically, by rename) into its own cache directory,
        // and wasmtime checks its header against this engine's version and configuration.
        match unsafe { Component::deserialize_file(engine, file) } {
            Ok(component) => return Ok((component, LoadSource::DiskCache)),
            Err(error) => tracing::info!(
                file = %file.display(),
                error = %error,
                "recompiling: the cached component is unusable"
            ),
        }
    }
    let component = Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the component")?;
    if let Some(file) = cache
        && let Err(error) = write_cache(&component, file)
    {
        tracing::warn!(file = %file.display(), error = %format!("{error:#}"), "cannot cache the compiled component");
    }
    Ok((component, LoadSource::Compiled))
}

fn write_cache(component: &Component, file: &Path) -> Result<()> {
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let dir = file.parent().context("the cache file has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, &bytes).context("writing the cache file")?;
    tmp.persist(file)
        .with_context(|| format!("renaming into {}", file.display()))?;
    prune_cache(dir);
    Ok(())
}

/// Removes all but the newest [`CACHE_KEEP`] compiled components from `dir`.
fn prune_cache(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("hubspot-hitl-") && name.ends_with(".cwasm"))
        })
        .filter_map(|path| Some((path.metadata().ok()?.modified().ok()?, path)))
        .collect();
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in files.into_iter().skip(CACHE_KEEP) {
        let _ = std::fs::remove_file(path);
    }
}

/// A loaded component: compiled once per process (and cached on disk by wasm hash), instantiated per
/// call from an `InstancePre`, in a fresh Store with memory limits and an epoch deadline.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    pre: HostSidePre<CallState>,
    bot: BotStore,
    config: RuntimeConfig,
    base_url: Option<BaseUrl>,
    source: LoadSource,
    peak_memory: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Loads the component at `wasm` to run against `bot` with `config`.
    pub async fn load(wasm: &Path, bot: BotStore, config: RuntimeConfig) -> Result<Self> {
        let base_url = config
            .hubspot_base_url
            .as_deref()
            .map(BaseUrl::parse)
            .transpose()?;
        let bytes = tokio::fs::read(wasm)
            .await
            .with_context(|| format!("reading the component {}", wasm.display()))?;
        let wasm_hash: [u8; 32] = Sha256::digest(&bytes).into();
        let kind = EngineKind::of(&config);
        let engine = engine(kind)?;

        let mut cache = pre_cache().lock().await;
        let (pre, source) = match cache.get(&(kind, wasm_hash)) {
            Some(pre) => (pre.clone(), LoadSource::Memory),
            None => {
                let cache_dir = config.cache_dir.clone().unwrap_or_else(default_cache_dir);
                let file = cache_file(&cache_dir, &wasm_hash, &engine);
                let (pre, source) = tokio::task::spawn_blocking(move || {
                    let (component, source) = load_component(&engine, &bytes, Some(&file))?;
                    Ok::<_, anyhow::Error>((instance_pre(&engine, &component)?, source))
                })
                .await
                .context("the component loader panicked")?
                .with_context(|| format!("loading the component {}", wasm.display()))?;
                cache.insert((kind, wasm_hash), pre.clone());
                (pre, source)
            }
        };
        drop(cache);
        Ok(Self {
            inner: Arc::new(Inner {
                pre,
                bot,
                config,
                base_url,
                source,
                peak_memory: Arc::default(),
            }),
        })
    }

    /// The bot store the host imports write to.
    pub fn bot(&self) -> &BotStore {
        &self.inner.bot
    }

    /// The options this runtime was loaded with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Where the compiled component came from when this runtime was loaded.
    pub fn load_source(&self) -> LoadSource {
        self.inner.source
    }

    /// The most linear memory any one call of this runtime (and its clones) has used, in bytes: the
    /// peak memory per instance.
    pub fn peak_memory_bytes(&self) -> usize {
        self.inner.peak_memory.load(Ordering::Relaxed)
    }

    /// Starts measuring [`Runtime::peak_memory_bytes`] afresh.
    pub fn reset_peak_memory(&self) {
        self.inner.peak_memory.store(0, Ordering::Relaxed);
    }

    /// The wasmtime engine this runtime's component was compiled for (shared by every runtime of the
    /// same configuration kind). For benchmarks and tools that compile or deserialize the component
    /// themselves: an artefact made with this engine is what [`Runtime::load`] caches.
    pub fn engine(&self) -> &Engine {
        self.inner.pre.engine()
    }

    /// Makes a fresh store and instance for `ctx`'s installation, exactly as every export call does
    /// (WASI, wasi:http, limits, epoch deadline, `InstancePre::instantiate_async`), then drops them
    /// without calling anything: the per-call cost of instantiation, for benchmarks.
    pub async fn instantiate_only(&self, ctx: &Context) -> Result<()> {
        let (_store, _instance, _stderr) = self.instantiate(ctx, "instantiate-only").await?;
        Ok(())
    }

    /// A fresh store and instance for one call of `ctx`'s installation.
    async fn instantiate(
        &self,
        ctx: &Context,
        export: &str,
    ) -> Result<(Store<CallState>, HostSide, MemoryOutputPipe)> {
        let config = &self.inner.config;
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let state = CallState {
            call: ctx.clone(),
            bot: self.inner.bot.clone(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutgoingHooks::new(self.inner.base_url.clone()),
            table: ResourceTable::new(),
            limits: CallLimiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(config.max_memory_bytes)
                    .trap_on_grow_failure(true)
                    .build(),
                memory: 0,
                peak: self.inner.peak_memory.clone(),
            },
        };
        let mut store = Store::new(self.inner.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        let timeout = config.call_timeout;
        let deadline = Instant::now() + timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::msg(format!(
                    "the call exceeded its time limit of {timeout:?}"
                )))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let instance = self
            .inner
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .with_context(|| format!("instantiating the component for `{export}`"))?;
        Ok((store, instance, stderr))
    }

    /// Turns the outcome of one export call into the wrapper's result.
    fn finish<R>(
        &self,
        export: &str,
        stderr: &MemoryOutputPipe,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R> {
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => anyhow::Error::from(error),
            Err(_) => anyhow!(
                "the call exceeded its time limit of {:?}",
                self.inner.config.call_timeout
            ),
        };
        let captured = stderr.contents();
        let error = if captured.is_empty() {
            error
        } else {
            let text = String::from_utf8_lossy(&captured);
            error.context(format!("guest stderr: {}", text.trim_end()))
        };
        Err(error.context(format!("the component's `{export}` failed")))
    }

    /// `register`: validate the configuration and set up the help desk side (idempotent).
    pub async fn register(&self, ctx: &Context) -> Result<Result<(), HitlError>> {
        let (mut store, instance, stderr) = self.instantiate(ctx, "register").await?;
        let call = instance
            .hitl_integration_handlers()
            .call_register(&mut store, ctx);
        let outcome = tokio::time::timeout(self.inner.config.call_timeout, call).await;
        self.finish("register", &stderr, outcome)
    }

    /// `unregister`: release what `register` made and forget the installation's state.
    pub async fn unregister(&self, ctx: &Context) -> Result<Result<(), HitlError>> {
        let (mut store, instance, stderr) = self.instantiate(ctx, "unregister").await?;
        let call = instance
            .hitl_integration_handlers()
            .call_unregister(&mut store, ctx);
        let outcome = tokio::time::timeout(self.inner.config.call_timeout, call).await;
        self.finish("unregister", &stderr, outcome)
    }

    /// `create-user`: find the help desk contact by email or phone and make the bot-side user.
    pub async fn create_user(
        &self,
        ctx: &Context,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
        picture_url: Option<&str>,
    ) -> Result<Result<String, HitlError>> {
        let (mut store, instance, stderr) = self.instantiate(ctx, "create-user").await?;
        let call = instance.hitl_integration_handlers().call_create_user(
            &mut store,
            ctx,
            name,
            email,
            phone,
            picture_url,
        );
        let outcome = tokio::time::timeout(self.inner.config.call_timeout, call).await;
        self.finish("create-user", &stderr, outcome)
    }

    /// `start-hitl`: open a help desk thread for the user; returns the handoff conversation's id.
    pub async fn start_hitl(
        &self,
        ctx: &Context,
        user_id: &str,
        title: Option<&str>,
        description: Option<&str>,
        history: &[HistoryEntry],
    ) -> Result<Result<String, HitlError>> {
        let (mut store, instance, stderr) = self.instantiate(ctx, "start-hitl").await?;
        let call = instance.hitl_integration_handlers().call_start_hitl(
            &mut store,
            ctx,
            user_id,
            title,
            description,
            history,
        );
        let outcome = tokio::time::timeout(self.inner.config.call_timeout, call).await;
        self.finish("start-hitl", &stderr, outcome)
    }

    /// `message`: forward the end user's message to the agent (`message_id` makes retries post once).
    pub async fn message(
        &self,
        ctx: &Context,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        payload: &MessagePayload,
    ) -> Result<Result<(), HitlError>> {
        let (mut store, instance, stderr) = self.instantiate(ctx, "message").await?;
        let call = instance.hitl_integration_handlers().call_message(
            &mut store,
            ctx,
            conversation_id,
            user_id,
            message_id,
            payload,
        );
        let outcome = tokio::time::timeout(self.inner.config.call_timeout, call).await;
        self.finish("message", &stderr, outcome)
    }

    /// `stop-hitl`: close the help desk thread and forget the mapping.
    pub async fn stop_hitl(
        &self,
        ctx: &Context,
        conversation_id: &str,
        reason: Option<&str>,
    ) -> Result<Result<(), HitlError>> {
        let (mut store, instance, stderr) = self.instantiate(ctx, "stop-hitl").await?;
        let call = instance.hitl_integration_handlers().call_stop_hitl(
            &mut store,
            ctx,
            conversation_id,
            reason,
        );
        let outcome = tokio::time::timeout(self.inner.config.call_timeout, call).await;
        self.finish("stop-hitl", &stderr, outcome)
    }

    /// `webhook`: the help desk called the webhook URL; returns the component's answer.
    pub async fn webhook(&self, ctx: &Context, request: HttpRequest) -> Result<HttpResponse> {
        let (mut store, instance, stderr) = self.instantiate(ctx, "webhook").await?;
        let call = instance
            .hitl_integration_handlers()
            .call_webhook(&mut store, ctx, &request);
        let outcome = tokio::time::timeout(self.inner.config.call_timeout, call).await;
        self.finish("webhook", &stderr, outcome)
    }
}

/// Links WASI, wasi:http and the host imports, and pre-instantiates `component`.
fn instance_pre(engine: &Engine, component: &Component) -> Result<HostSidePre<CallState>> {
    let mut linker = Linker::<CallState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("linking WASI")?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("linking wasi:http")?;
    HostSide::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)
        .map_err(anyhow::Error::from)
        .context("linking the host imports")?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(anyhow::Error::from)
        .context("the component does not fit the hitl-integration world")?;
    HostSidePre::new(pre)
        .map_err(anyhow::Error::from)
        .context("the component does not export hitl:integration/handlers@0.1.0")
}
