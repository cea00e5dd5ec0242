//! Schemas a home knows: the built-in ones and those a user registered from
//! a JSON file. A user schema is checked as strictly as a secret before it is
//! stored, and can never shadow a built-in.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::schema::{self, Schema};
use crate::store::Database;

pub struct Schemas {
    db: Arc<dyn Database>,
}

impl Schemas {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Schemas { db }
    }

    /// A built-in or user schema, if there is one of that name.
    pub fn find(&self, name: &str) -> Result<Option<Schema>> {
        if let Some(schema) = schema::find_builtin(name) {
            return Ok(Some(schema));
        }
        self.db.schema(name)
    }

    /// A built-in or user schema a secret is to be written under: an
    /// unknown name is invalid input.
    pub fn get(&self, name: &str) -> Result<Schema> {
        self.find(name)?.ok_or_else(|| {
            Error::invalid(format!(
                "unknown schema `{name}`; `flavorbox schema list` shows the known ones"
            ))
        })
    }

    /// Every schema, built-ins first.
    pub fn list(&self) -> Result<Vec<Schema>> {
        let mut all = schema::builtins();
        all.extend(self.db.schemas()?);
        Ok(all)
    }

    /// Removes a user schema. Secrets that use it keep their values and
    /// schema name, but cannot be registered or updated under it until a
    /// schema of that name is registered again; built-ins stay.
    pub fn remove(&self, name: &str) -> Result<()> {
        if schema::find_builtin(name).is_some() {
            return Err(Error::denied(format!(
                "schema `{name}` is built in and cannot be removed"
            )));
        }
        self.db.remove_schema(name)
    }

    pub fn register(&self, schema: &Schema) -> Result<()> {
        schema.check()?;
        self.db.insert_schema(schema)
    }
}
