//! Contract 0.2 for a flavor built on this kit: [`contract_0_2!`] generates,
//! in the flavor's own module, 0.2's bindings (wit-bindgen's types are per
//! crate, so the kit cannot hold them) and the conversions between them
//! and the kit's 0.1 types, which the kit's core (HTTP, settings, errors)
//! speaks: the host links 0.1's imports for every flavor, so only the
//! exports differ.
//!
//! Guards against: flavors converting at the boundary each in their own
//! way (an error kind mapped to another, an `info()` field dropped).

/// Generates in the invoking module (of a flavor at
/// `guests/flavors/<name>`, the module at path `$bindings` without its
/// last `::bindings`): `mod bindings` (contract 0.2's `flavor` world, its
/// default bindings module `$bindings`); `From<flavor_kit::Error>` for
/// 0.2's error; `to_kit` and `from_kit` between 0.2's secret and the
/// kit's; and `flavor_info(about)`, the 0.2 `info()` answer. The flavor
/// depends on `wit-bindgen` and exports with `bindings::export!`.
#[macro_export]
macro_rules! contract_0_2 {
    ($bindings:literal) => {
        mod bindings {
            wit_bindgen::generate!({
                path: "../../../wit/0.2",
                world: "flavor",
                default_bindings_module: $bindings,
            });
        }

        impl From<$crate::Error> for bindings::flavorbox::secrets::types::Error {
            fn from(e: $crate::Error) -> Self {
                use bindings::flavorbox::secrets::types::Error as E;
                match e {
                    $crate::Error::NotFound(m) => E::NotFound(m),
                    $crate::Error::AlreadyExists(m) => E::AlreadyExists(m),
                    $crate::Error::Invalid(m) => E::Invalid(m),
                    $crate::Error::Denied(m) => E::Denied(m),
                    $crate::Error::Backend(m) => E::Backend(m),
                }
            }
        }

        /// Contract 0.2's secret as the kit's.
        fn to_kit(secret: bindings::flavorbox::secrets::types::Secret) -> $crate::Secret {
            $crate::Secret {
                name: secret.name,
                schema: secret.schema,
                values: secret.values,
            }
        }

        /// The kit's secret as contract 0.2's.
        fn from_kit(secret: $crate::Secret) -> bindings::flavorbox::secrets::types::Secret {
            bindings::flavorbox::secrets::types::Secret {
                name: secret.name,
                schema: secret.schema,
                values: secret.values,
            }
        }

        /// The `info()` answer of contract 0.2 for `about`.
        fn flavor_info(
            about: &$crate::settings::About,
        ) -> bindings::flavorbox::secrets::types::FlavorInfo {
            use bindings::flavorbox::secrets::types::{ConfigField, FlavorInfo};
            let info = about.info();
            FlavorInfo {
                name: info.name,
                version: info.version,
                description: info.description,
                config: info
                    .config
                    .into_iter()
                    .map(|f| ConfigField {
                        name: f.name,
                        description: f.description,
                        required: f.required,
                        secret: f.secret,
                    })
                    .collect(),
                capabilities: info.capabilities,
            }
        }
    };
}
