//! Host-side bindings for the `hitl:integration` world.
//!
//! The component's world also imports `wasi:http` and the WASI clocks and random interfaces; those are
//! provided by `wasmtime-wasi` and `wasmtime-wasi-http`, so the bindings here are generated from a
//! host-side world that names only what this crate implements (`host`) and calls (`handlers`), plus
//! the `types` they share. That keeps a second copy of the wasi:http bindings out of this crate.

wasmtime::component::bindgen!({
    path: "../wit",
    inline: "
        package hitl:host-side;

        /// What this host implements and calls; WASI comes from wasmtime-wasi(-http).
        world host-side {
            import hitl:integration/host@0.1.0;
            export hitl:integration/handlers@0.1.0;
        }
    ",
    world: "hitl:host-side/host-side",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
});
