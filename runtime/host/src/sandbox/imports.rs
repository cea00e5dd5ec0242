//! The host's imports (`storage`, `config`, `log`) for every contract
//! version: each version's generated trait hands the call to the one
//! implementation in `capabilities`, converting only the error type.
//!
//! Guards against the versions behaving differently: a 0.1 and a 0.2
//! flavor get the same namespace rules, quota, masking and refusals,
//! because there is one body for each import.

use super::CallState;
use crate::capabilities::config::ConfigCapability;
use crate::capabilities::log::LogSink;
use crate::capabilities::storage::StorageCapability;

/// Each version's import traits over the one implementation.
macro_rules! imports_for {
    ($module:ident, $version:ident) => {
        mod $module {
            use super::*;
            use crate::contract::$version::flavorbox::secrets as wit;

            type Answer<T> = wasmtime::Result<Result<T, crate::contract::$version::WitError>>;

            fn answer<T>(
                got: wasmtime::Result<Result<T, crate::contract::FlavorError>>,
            ) -> Answer<T> {
                got.map(|r| r.map_err(Into::into))
            }

            /// `types` only defines types; its host trait is empty.
            impl wit::types::Host for CallState {}

            impl wit::storage::Host for StorageCapability {
                fn get(&mut self, key: String) -> Answer<Option<Vec<u8>>> {
                    answer(StorageCapability::get(self, key))
                }
                fn set(&mut self, key: String, value: Vec<u8>) -> Answer<()> {
                    answer(StorageCapability::set(self, key, value))
                }
                fn delete(&mut self, key: String) -> Answer<bool> {
                    answer(StorageCapability::delete(self, key))
                }
                fn list_keys(&mut self, prefix: String) -> Answer<Vec<String>> {
                    answer(StorageCapability::list_keys(self, prefix))
                }
            }

            impl wit::config::Host for ConfigCapability {
                fn get(&mut self, key: String) -> Option<String> {
                    ConfigCapability::get(self, key)
                }
                fn all(&mut self) -> Vec<(String, String)> {
                    ConfigCapability::all(self)
                }
            }

            impl wit::log::Host for LogSink {
                fn log(&mut self, level: wit::log::Level, message: String) {
                    LogSink::log(self, level.into(), message);
                }
            }

            /// Links `$version`'s imports into `linker`.
            pub fn link(
                linker: &mut wasmtime::component::Linker<CallState>,
            ) -> wasmtime::Result<()> {
                use wasmtime::component::HasSelf;
                wit::types::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
                wit::storage::add_to_linker::<_, HasSelf<_>>(linker, |s: &mut CallState| {
                    &mut s.storage
                })?;
                wit::config::add_to_linker::<_, HasSelf<_>>(linker, |s: &mut CallState| {
                    &mut s.config
                })?;
                wit::log::add_to_linker::<_, HasSelf<_>>(linker, |s: &mut CallState| &mut s.log)
            }
        }
    };
}

imports_for!(imports_v0_1, v0_1);
imports_for!(imports_v0_2, v0_2);

/// Links the imports of every contract version the host speaks: a flavor
/// imports those of its own version and resolves against them.
pub(super) fn link_all(
    linker: &mut wasmtime::component::Linker<CallState>,
) -> wasmtime::Result<()> {
    imports_v0_1::link(linker)?;
    imports_v0_2::link(linker)
}
