//! End-to-end tests: the real component (built from this source) under wasmtime, through the
//! `hitl-host` crate, against `hubspot-sim` over loopback HTTP. One test binary, several modules, so
//! that wasmtime is linked once.

mod support;

mod budgets;
mod fuzz;
mod handoff;
mod register;
mod reliability;
mod webhook;
