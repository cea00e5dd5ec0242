//! The secret operations of the manager a [`Remote`] is on, over the
//! server's API: every operation a local manager offers, answering with
//! the same library types and errors.
//!
//! Guards against a hostile or broken server handing the CLI what it would
//! never accept as input: every name, key, secret and schema an answer
//! holds is checked as the CLI's input is, and an export page must hold
//! the secrets asked for, in order, at least one (so paging always ends);
//! anything else is a `backend` error. An import is one request (all or
//! nothing is the server's to keep): its progress shows from the start and
//! fills when the server answers; an export's advances per page.

use serde_json::Value;

use super::super::json::{
    EXPORT_PAGE_NAMES, ExportBody, ImportBody, MAX_IMPORT_BODY_BYTES, RenameBody, SecretBody,
    UpdateBody,
};
use super::Remote;
use crate::contract::history::{Labels, SecretHistory, SecretMetadata};
use crate::error::{Error, Result};
use crate::managers::{
    BulkBound, Deletion, Feature, ImportPlan, ImportReport, LabelChange, Progress, Referrer,
    SecretSummary, SecretUpdate, SecretsApi,
};
use crate::reference::Reference;
use crate::schema::{Schema, find_builtin};
use crate::secret::{Secret, check_key, check_name};

fn malformed(what: &str) -> Error {
    Error::backend(format!("the server's {what} is malformed"))
}

/// A summary a write answered with: its name, schema and keys checked.
pub(super) fn checked_summary(value: Value) -> Result<SecretSummary> {
    let summary: SecretSummary = serde_json::from_value(value).map_err(|_| malformed("answer"))?;
    check_name("secret name", &summary.name).map_err(|_| malformed("answer"))?;
    check_name("schema name", &summary.schema).map_err(|_| malformed("answer"))?;
    for key in &summary.keys {
        check_key(key).map_err(|_| malformed("answer"))?;
    }
    Ok(summary)
}

/// The broken references a forced delete or rename answered with, each
/// checked: a name, key or reference that does not parse is the server's
/// fault.
fn checked_referrers(value: &Value) -> Result<Vec<Referrer>> {
    let broken = value["broken"].as_array().cloned().unwrap_or_default();
    let garbled = || Error::backend("the server listed a broken reference that does not parse");
    broken
        .iter()
        .map(|entry| {
            let text = |field: &str| entry[field].as_str().unwrap_or_default().to_string();
            let reference = Reference::parse_whole(&text("reference"))
                .and_then(|parsed| parsed.ok())
                .ok_or_else(garbled)?;
            let (manager, key) = (text("manager"), text("key"));
            check_name("secrets manager name", &manager).map_err(|_| garbled())?;
            check_key(&key).map_err(|_| garbled())?;
            Ok(Referrer {
                manager,
                key,
                reference,
            })
        })
        .collect()
}

/// The schema `name` as the server answered it, checked as a schema file
/// is (a built-in's name is the built-in's, its keys checked alike).
fn checked_schema(value: Value, name: &str) -> Result<Schema> {
    let mut schema: Schema = serde_json::from_value(value).map_err(|_| malformed("schema"))?;
    if schema.name != name {
        return Err(malformed("schema"));
    }
    schema.description = crate::text::clip(&schema.description, 500);
    schema.builtin = find_builtin(name).is_some();
    let keys_valid = schema
        .required
        .iter()
        .chain(&schema.optional)
        .all(|key| check_key(key).is_ok());
    if !keys_valid || (!schema.builtin && schema.check().is_err()) {
        return Err(malformed("schema"));
    }
    Ok(schema)
}

/// The names of an import report, each one of the secrets sent.
fn checked_report(value: Value, secrets: &[Secret]) -> Result<ImportReport> {
    let report: ImportReport = serde_json::from_value(value).map_err(|_| malformed("answer"))?;
    let sent = |name: &String| secrets.iter().any(|s| s.name() == name);
    let named = report
        .created
        .iter()
        .chain(&report.overwritten)
        .chain(&report.skipped);
    if !named.clone().all(sent) || named.count() > secrets.len() {
        return Err(malformed("import report"));
    }
    Ok(report)
}

impl Remote {
    /// `POST .../secrets/OLD/rename`: the renamed secret and the
    /// references it broke (none unless `force`).
    fn renamed(&self, old: &str, new: &str, force: bool) -> Result<(SecretSummary, Vec<Referrer>)> {
        let path = format!("{}/rename", self.secret_path(old));
        let body = RenameBody {
            new: new.to_string(),
            force,
        };
        let body = serde_json::to_value(body).map_err(Error::host)?;
        let mut value = self.request("POST", &path, Some(body))?;
        let broken = checked_referrers(&value)?;
        let renamed = checked_summary(value["secret"].take())?;
        if renamed.name != new {
            return Err(malformed("answer"));
        }
        Ok((renamed, broken))
    }
}

impl SecretsApi for Remote {
    fn manager_name(&self) -> &str {
        &self.manager
    }

    /// Everything but a `delete-all` bound ([`Feature::BulkBound`]): the
    /// server applies its own.
    fn require(&self, feature: Feature) -> Result<()> {
        match feature {
            Feature::BulkBound => Err(Error::invalid(
                "--max-calls and --max-time are not available with --server (the server \
                 applies its own bound); run them where the store is",
            )),
        }
    }

    fn schema(&self, name: &str) -> Result<Schema> {
        let path = self.manager_path(&format!("schemas/{}", super::segment(name)));
        checked_schema(self.request("GET", &path, None)?, name)
    }

    fn register_secret(&self, secret: &Secret) -> Result<()> {
        let body = serde_json::to_value(SecretBody::of(secret)).map_err(Error::host)?;
        self.request("POST", &self.secrets_path(), Some(body))?;
        Ok(())
    }

    /// The secret as the server has it, kept in the offline cache if there
    /// is one; while the server cannot be reached, the cached one within
    /// its age (see `serve/offline.rs`).
    fn get_secret(&self, name: &str) -> Result<Secret> {
        let value = match self.request("GET", &self.secret_path(name), None) {
            Ok(value) => value,
            Err(err) => return self.offline_secret(name).ok_or(err),
        };
        let body: SecretBody = serde_json::from_value(value).map_err(|_| malformed("secret"))?;
        let secret = body.into_secret()?;
        self.keep_offline(&secret)?;
        Ok(secret)
    }

    fn change_feed(&self) -> Result<Box<dyn crate::managers::ChangeFeed>> {
        self.follow()
    }

    fn keeps_history(&self) -> Result<bool> {
        self.manager_keeps_history()
    }

    fn secret_history(&self, name: &str) -> Result<SecretHistory> {
        self.history_of(name)
    }

    fn get_secret_version(&self, name: &str, version: u64) -> Result<Secret> {
        self.version_of(name, version)
    }

    fn get_secret_versioned(&self, name: &str) -> Result<(Secret, Option<u64>)> {
        self.versioned(name)
    }

    fn rollback_secret(&self, name: &str, to: u64) -> Result<u64> {
        self.rolled_back(name, to)
    }

    fn restore_secret(&self, name: &str) -> Result<()> {
        self.restored(name)
    }

    fn update_secret_if(
        &self,
        name: &str,
        update: &SecretUpdate,
        expected: u64,
    ) -> Result<(SecretSummary, u64)> {
        self.updated_if(name, update, expected)
    }

    fn list_metadata(&self) -> Result<Vec<SecretMetadata>> {
        self.metadata_listing()
    }

    fn label_secret(&self, name: &str, change: &LabelChange) -> Result<Labels> {
        self.labelled(name, change)
    }

    fn list_secrets(&self) -> Result<Vec<String>> {
        let value = self.request("GET", &self.secrets_path(), None)?;
        let mut names: Vec<String> =
            serde_json::from_value(value["secrets"].clone()).map_err(|_| malformed("list"))?;
        names.sort();
        Ok(names)
    }

    /// Sets, removes and re-schemas as `update` says, in one merge on the
    /// server.
    fn update_secret(&self, name: &str, update: &SecretUpdate) -> Result<SecretSummary> {
        update.require_changes()?;
        let body = UpdateBody {
            values: update.set.iter().cloned().collect(),
            remove: update.remove.clone(),
            schema: update.schema.clone(),
        };
        let body = serde_json::to_value(body).map_err(Error::host)?;
        checked_summary(self.request("PATCH", &self.secret_path(name), Some(body))?)
    }

    fn rename_secret(&self, old: &str, new: &str) -> Result<SecretSummary> {
        self.renamed(old, new, false).map(|(renamed, _)| renamed)
    }

    fn rename_secret_breaking(
        &self,
        old: &str,
        new: &str,
    ) -> Result<(SecretSummary, Vec<Referrer>)> {
        self.renamed(old, new, true)
    }

    fn delete_secret(&self, name: &str, how: Deletion) -> Result<()> {
        let path = format!("{}{}", self.secret_path(name), deletion_query(how, ""));
        self.request("DELETE", &path, None)?;
        Ok(())
    }

    fn delete_secret_breaking(&self, name: &str, how: Deletion) -> Result<Vec<Referrer>> {
        let query = deletion_query(how, "force=true");
        let path = format!("{}{query}", self.secret_path(name));
        checked_referrers(&self.request("DELETE", &path, None)?)
    }

    fn delete_all_secrets(&self, bound: BulkBound, _: Progress<'_>) -> Result<Option<usize>> {
        if bound != BulkBound::default() {
            self.require(Feature::BulkBound)?;
        }
        let path = format!("{}?force=true", self.secrets_path());
        let value = self.request("DELETE", &path, None)?;
        Ok(value["deleted"].as_u64().map(|n| n as usize))
    }

    /// Lists the names first when none are given (as a local export does),
    /// then asks for the secrets page by page, telling `progress` after
    /// each.
    fn export_secrets(&self, names: &[String], progress: Progress<'_>) -> Result<Vec<Secret>> {
        let names = crate::managers::exported_names(names, || self.list_secrets())?;
        let path = self.manager_path("export");
        let mut secrets = Vec::with_capacity(names.len());
        while secrets.len() < names.len() {
            let rest = &names[secrets.len()..];
            let asked = &rest[..rest.len().min(EXPORT_PAGE_NAMES)];
            let body = serde_json::to_value(ExportBody {
                names: asked.to_vec(),
            })
            .map_err(Error::host)?;
            let mut value = self.request("POST", &path, Some(body))?;
            let page: Vec<SecretBody> =
                serde_json::from_value(value["secrets"].take()).map_err(|_| malformed("export"))?;
            if page.is_empty() || page.len() > asked.len() {
                return Err(malformed("export"));
            }
            for (body, name) in page.into_iter().zip(asked) {
                let secret = body.into_secret().map_err(|_| malformed("export"))?;
                if secret.name() != name {
                    return Err(malformed("export"));
                }
                secrets.push(secret);
            }
            progress(secrets.len(), names.len());
        }
        Ok(secrets)
    }

    fn import_secrets(
        &self,
        secrets: &[Secret],
        plan: ImportPlan,
        progress: Progress<'_>,
    ) -> Result<ImportReport> {
        let body = ImportBody {
            secrets: secrets.iter().map(SecretBody::of).collect(),
            on_conflict: plan.on_conflict,
            dry_run: plan.dry_run,
        };
        let body = serde_json::to_value(body).map_err(Error::host)?;
        if !plan.dry_run {
            progress(0, secrets.len());
        }
        let path = self.manager_path("import");
        let value = self.request_within("POST", &path, Some(body), MAX_IMPORT_BODY_BYTES)?;
        let report = checked_report(value, secrets)?;
        if !plan.dry_run {
            let written = report.created.len() + report.overwritten.len();
            progress(written, written);
        }
        Ok(report)
    }
}

/// The query of a delete: `?purge=true` for a purge, with `other` beside it.
fn deletion_query(how: Deletion, other: &str) -> String {
    let purge = (how == Deletion::Purge).then_some("purge=true");
    let pairs: Vec<&str> = purge
        .into_iter()
        .chain((!other.is_empty()).then_some(other))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_malformed_answer_is_the_servers_fault() {
        let schema = json!({ "name": "api", "required": ["token"] });
        assert!(checked_schema(schema.clone(), "api").is_ok());
        assert!(checked_schema(schema, "other").is_err(), "another schema");
        let builtin = json!({ "name": "aws", "required": ["aws_access_key_id"] });
        assert!(checked_schema(builtin, "aws").unwrap().builtin);
        let bad_key = json!({ "name": "api", "required": ["bad key"] });
        assert!(checked_schema(bad_key, "api").is_err());
        let bad_summary = json!({ "name": "../x", "schema": "arbitrary", "keys": [] });
        assert!(checked_summary(bad_summary).is_err());
        let sent = [Secret::new("a", "arbitrary", [("k".to_string(), "v".to_string())]).unwrap()];
        let foreign = json!({ "created": ["b"], "overwritten": [], "skipped": [] });
        assert!(checked_report(foreign, &sent).is_err());
        let twice = json!({ "created": ["a"], "overwritten": ["a"], "skipped": [] });
        assert!(checked_report(twice, &sent).is_err());
        let bad_reference = json!({ "broken": [{ "manager": "m", "key": "k", "reference": "x" }] });
        assert!(checked_referrers(&bad_reference).is_err());
        for error in [
            checked_summary(json!(null)),
            checked_summary(json!({ "name": "a", "schema": "s", "keys": ["bad key"] })),
        ] {
            assert!(error.unwrap_err().is(crate::error::ErrorKind::Backend));
        }
    }
}
