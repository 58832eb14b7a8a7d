//! Helpers shared by the host's tests: tiny hand-written guests that implement the `handlers` exports
//! with chosen behaviour (loop forever, grow memory, trap, echo), built with wit-component from the
//! project's WIT so they fit the same world as the real component.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};

use hitl_host::types::Context;
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::abi::{AbiVariant, WasmType};
use wit_parser::{ManglingAndAbi, Resolve, WasmExport, WasmExportKind, WorldItem};

/// Behaviour of `register`/`unregister`: answer `Ok(())`.
pub const OK_UNIT: &str = "(i32.const 512)";
/// A body that never ends.
pub const SPIN: &str = "(loop $spin (br $spin)) unreachable";
/// A body that grows memory by 2048 pages (128 MiB).
pub const GROW_128_MIB: &str = "(drop (memory.grow (i32.const 2048))) (i32.const 512)";
/// `webhook`: answer 200 with the request URL as the body.
pub const ECHO_URL: &str = "
    (i32.store16 (i32.const 256) (i32.const 200))
    (i32.store (i32.const 260) (i32.const 0))
    (i32.store (i32.const 264) (i32.const 0))
    (i32.store (i32.const 268) (local.get 10))
    (i32.store (i32.const 272) (local.get 11))
    (i32.const 256)";

fn wat_type(ty: &WasmType) -> &'static str {
    match ty {
        WasmType::I32 | WasmType::Pointer | WasmType::Length => "i32",
        WasmType::I64 | WasmType::PointerOrI64 => "i64",
        WasmType::F32 => "f32",
        WasmType::F64 => "f64",
    }
}

/// Writes a component exporting `hitl:integration/handlers@0.1.0` to `dir/name.wasm`: each export
/// named in `bodies` (WIT names, e.g. `register`) runs that WAT body, every other one traps.
pub fn test_component(dir: &Path, name: &str, bodies: &[(&str, &str)]) -> PathBuf {
    let mut resolve = Resolve::default();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    resolve.push_path(&wit).expect("reading the project's WIT");
    let pkg = resolve
        .push_str(
            "test-guest.wit",
            "package hitl:test-guest; world guest { export hitl:integration/handlers@0.1.0; }",
        )
        .expect("parsing the test world");
    let world = resolve
        .select_world(&[pkg], Some("guest"))
        .expect("the test world");
    let mangling = ManglingAndAbi::Standard32;

    let memory = resolve.wasm_export_name(mangling, WasmExport::Memory);
    let realloc = resolve.wasm_export_name(mangling, WasmExport::Realloc);
    let initialize = resolve.wasm_export_name(mangling, WasmExport::Initialize);
    let mut wat = format!(
        "(module
  (memory (export {memory:?}) 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export {realloc:?}) (param i32 i32 i32 i32) (result i32)
    (local $ret i32)
    (local.set $ret
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
        (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
    (global.set $heap (i32.add (local.get $ret) (local.get 3)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (drop (memory.grow
          (i32.add
            (i32.div_u
              (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
              (i32.const 65536))
            (i32.const 1))))))
    (local.get $ret))
  (func (export {initialize:?}))
"
    );
    for (key, item) in resolve.worlds[world].exports.iter() {
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
        for (fname, func) in resolve.interfaces[*id].functions.iter() {
            let sig = resolve.wasm_signature(AbiVariant::GuestExport, func);
            let export = resolve.wasm_export_name(
                mangling,
                WasmExport::Func {
                    interface: Some(key),
                    func,
                    kind: WasmExportKind::Normal,
                },
            );
            let params: Vec<&str> = sig.params.iter().map(wat_type).collect();
            let results: Vec<&str> = sig.results.iter().map(wat_type).collect();
            let body = bodies
                .iter()
                .find(|(n, _)| n == fname)
                .map(|(_, b)| *b)
                .unwrap_or("unreachable");
            wat.push_str(&format!(
                "  (func (export {export:?}) (param {}) (result {})\n    {body})\n",
                params.join(" "),
                results.join(" ")
            ));
        }
    }
    wat.push_str(")\n");

    let mut module = wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"));
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("embedding the component type");
    let component = ComponentEncoder::default()
        .module(&module)
        .expect("reading the core module")
        .validate(true)
        .encode()
        .expect("encoding the test component");
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, component).expect("writing the test component");
    path
}

/// A context for installation `integration_id` with an empty configuration.
pub fn context(integration_id: &str, webhook_url: &str) -> Context {
    Context {
        integration_id: integration_id.to_owned(),
        bot_id: "test-bot".to_owned(),
        webhook_url: webhook_url.to_owned(),
        configuration: "{}".to_owned(),
    }
}
