//! `countersign admin`: principals and keys over the signed admin API, and the safe key
//! rotation.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use countersign::Credentials;
use serde_json::{Value, json};

use crate::api::{self, Api, segment};
use crate::cli::{
    AdminArgs, AdminCommand, CredentialArgs, KeyCommand, PolicyCommand, PolicySubject,
    PrincipalCommand,
};
use crate::cmd::configure;
use crate::config::{Profile, Sources};
use crate::error::CliError;

/// Columns of the principal table.
const PRINCIPAL_COLUMNS: [&str; 4] = ["name", "admin", "enabled", "created_at"];
/// Columns of the key table.
const KEY_COLUMNS: [&str; 5] = [
    "access_key_id",
    "principal",
    "status",
    "created_at",
    "last_used_at",
];

/// Runs an admin command and prints a table (or JSON with `--json`).
///
/// # Errors
/// [`CliError`]: missing credentials or endpoint (2), a refused call (4/5), transport (1), an
/// aborted rotation (1).
pub fn run(
    args: &AdminArgs,
    sources: &Sources<'_>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let identity = sources.identity(&args.endpoint.net.credentials)?;
    let endpoint = sources.endpoint(args.endpoint.endpoint.as_ref())?;
    let runtime = api::runtime()?;
    runtime.block_on(async {
        let client = api::client(&identity, &args.endpoint.net, false)?;
        let api = Api {
            client: &client,
            endpoint,
        };
        let printed = match &args.command {
            AdminCommand::Principal(cmd) => principal(&api, cmd).await?,
            AdminCommand::Key(KeyCommand::Rotate {
                principal,
                admin_profile,
                delete_old,
            }) => {
                let rotation = Rotation {
                    principal,
                    admin_profile: admin_profile.as_deref(),
                    delete_old: *delete_old,
                };
                rotation.run(args, sources, &api).await?
            }
            AdminCommand::Key(cmd) => key(&api, cmd, sources).await?,
            AdminCommand::Policy(cmd) => policy(&api, cmd).await?,
        };
        print(out, &printed, args.json)?;
        Ok(ExitCode::SUCCESS)
    })
}

/// What a command prints: objects shown as table rows.
struct Printed {
    columns: &'static [&'static str],
    rows: Vec<Value>,
}

async fn principal(api: &Api<'_>, cmd: &PrincipalCommand) -> Result<Printed, CliError> {
    let row = match cmd {
        PrincipalCommand::Create { name, admin } => {
            let body = json!({"name": name, "admin": admin});
            api.call("POST", "/v1/principals", Some(&body)).await?
        }
        PrincipalCommand::List => {
            let list = api.call("GET", "/v1/principals", None).await?;
            return Ok(Printed {
                columns: &PRINCIPAL_COLUMNS,
                rows: array(&list, "principals"),
            });
        }
        PrincipalCommand::Disable { name } | PrincipalCommand::Enable { name } => {
            let enabled = matches!(cmd, PrincipalCommand::Enable { .. });
            let path = format!("/v1/principals/{}", segment(name));
            api.call("PATCH", &path, Some(&json!({"enabled": enabled})))
                .await?
        }
    };
    Ok(Printed {
        columns: &PRINCIPAL_COLUMNS,
        rows: vec![row],
    })
}

async fn policy(api: &Api<'_>, cmd: &PolicyCommand) -> Result<Printed, CliError> {
    let subject = match cmd {
        PolicyCommand::Set { subject, .. }
        | PolicyCommand::Show { subject }
        | PolicyCommand::Clear { subject } => subject,
    };
    let (path, columns): (String, &'static [&'static str]) = match subject {
        PolicySubject {
            principal: Some(name),
            ..
        } => (
            format!("/v1/principals/{}/policy", segment(name)),
            &["principal", "policy"],
        ),
        PolicySubject { key: Some(id), .. } => (
            format!("/v1/keys/{}/policy", segment(id)),
            &["access_key_id", "policy"],
        ),
        _ => {
            return Err(CliError::Args(
                "name whose policy: --principal NAME or --key ACCESS_KEY_ID".into(),
            ));
        }
    };
    let row = match cmd {
        PolicyCommand::Set { document, file, .. } => {
            let text = match (document, file) {
                (Some(text), _) => text.clone(),
                (None, Some(path)) => std::fs::read_to_string(path).map_err(|err| {
                    CliError::Args(format!("cannot read {}: {err}", path.display()))
                })?,
                (None, None) => {
                    return Err(CliError::Args(
                        "give the policy with --document JSON or --file PATH".into(),
                    ));
                }
            };
            let document: Value = serde_json::from_str(&text)
                .map_err(|err| CliError::Args(format!("the policy is not valid JSON: {err}")))?;
            api.call("PUT", &path, Some(&document)).await?
        }
        PolicyCommand::Show { .. } => api.call("GET", &path, None).await?,
        PolicyCommand::Clear { .. } => api.call("DELETE", &path, None).await?,
    };
    Ok(Printed {
        columns,
        rows: vec![row],
    })
}

async fn key(api: &Api<'_>, cmd: &KeyCommand, sources: &Sources<'_>) -> Result<Printed, CliError> {
    let row = match cmd {
        KeyCommand::Create {
            principal,
            save_profile,
        } => return create_key(api, principal, save_profile.as_deref(), sources).await,
        KeyCommand::List { principal } => {
            return Ok(Printed {
                columns: &KEY_COLUMNS,
                rows: list_keys(api, principal.as_deref()).await?,
            });
        }
        KeyCommand::Disable { id } => set_status(api, id, "Inactive").await?,
        KeyCommand::Enable { id } => set_status(api, id, "Active").await?,
        KeyCommand::Delete { id } => {
            api.call("DELETE", &format!("/v1/keys/{}", segment(id)), None)
                .await?;
            json!({"access_key_id": id, "status": "deleted"})
        }
        KeyCommand::Rotate { .. } => unreachable!("rotate is dispatched in run"),
    };
    Ok(Printed {
        columns: &KEY_COLUMNS,
        rows: vec![row],
    })
}

async fn create_key(
    api: &Api<'_>,
    principal: &str,
    save_profile: Option<&str>,
    sources: &Sources<'_>,
) -> Result<Printed, CliError> {
    let path = format!("/v1/principals/{}/keys", segment(principal));
    let mut created = api.call("POST", &path, None).await?;
    let columns: &[&str] = &["access_key_id", "principal", "secret_access_key"];
    let Some(name) = save_profile else {
        return Ok(Printed {
            columns,
            rows: vec![created],
        });
    };
    let target = Profile {
        name: name.to_owned(),
        path: sources.profile.path.clone(),
        values: existing_section(sources, name),
    };
    let mut values = target.values.clone();
    values.insert("access_key_id".into(), text(&created, "access_key_id"));
    values.insert(
        "secret_access_key".into(),
        text(&created, "secret_access_key"),
    );
    values.remove("session_token");
    values
        .entry("endpoint".into())
        .or_insert_with(|| api.endpoint.clone());
    configure::save(&target, &values)?;
    created["secret_access_key"] = json!(format!("(saved to profile `{name}`)"));
    Ok(Printed {
        columns,
        rows: vec![created],
    })
}

async fn list_keys(api: &Api<'_>, principal: Option<&str>) -> Result<Vec<Value>, CliError> {
    let names = match principal {
        Some(p) => vec![p.to_owned()],
        None => {
            let list = api.call("GET", "/v1/principals", None).await?;
            array(&list, "principals")
                .iter()
                .map(|p| text(p, "name"))
                .collect()
        }
    };
    let mut rows = Vec::new();
    for name in names {
        let path = format!("/v1/principals/{}/keys", segment(&name));
        rows.extend(array(&api.call("GET", &path, None).await?, "keys"));
    }
    Ok(rows)
}

async fn set_status(api: &Api<'_>, id: &str, status: &str) -> Result<Value, CliError> {
    let path = format!("/v1/keys/{}", segment(id));
    api.call("PATCH", &path, Some(&json!({"status": status})))
        .await
}

/// `key rotate`: create, switch, check, then retire the old key.
struct Rotation<'a> {
    principal: &'a str,
    admin_profile: Option<&'a str>,
    delete_old: bool,
}

impl Rotation<'_> {
    async fn run(
        &self,
        args: &AdminArgs,
        sources: &Sources<'_>,
        api: &Api<'_>,
    ) -> Result<Printed, CliError> {
        let target = &sources.profile;
        let old_id = target.values.get("access_key_id").cloned().ok_or_else(|| {
            CliError::Profile(format!(
                "profile `{}` in {} has no access_key_id to rotate",
                target.name,
                target.path.display()
            ))
        })?;
        let admin_client = self.admin_client(args, sources)?;
        let admin = Api {
            client: admin_client.as_ref().unwrap_or(api.client),
            endpoint: api.endpoint.clone(),
        };
        self.ensure_owned(&admin, &old_id).await?;
        let original = std::fs::read(&target.path).map_err(|err| {
            CliError::Profile(format!("cannot read {}: {err}", target.path.display()))
        })?;
        let path = format!("/v1/principals/{}/keys", segment(self.principal));
        let created = admin.call("POST", &path, None).await?;
        let new_id = text(&created, "access_key_id");
        let mut new_identity = sources.identity(&args.endpoint.net.credentials)?;
        new_identity.credentials = Credentials::new(&new_id, text(&created, "secret_access_key"));
        let new_client = api::client(&new_identity, &args.endpoint.net, true)?;
        let new_api = Api {
            client: &new_client,
            endpoint: api.endpoint.clone(),
        };
        if let Err(reason) = self.switch_and_check(target, &created, &new_api).await {
            return Err(self
                .roll_back(&admin, target, &original, old_id, &new_id, reason)
                .await);
        }
        // A self-rotation signs the rest with the new key: the old one is about to stop working.
        let retire = Api {
            client: admin_client.as_ref().unwrap_or(&new_client),
            endpoint: api.endpoint.clone(),
        };
        self.retire(&retire, &old_id, &new_id).await
    }

    /// The client for `--admin-profile`, if given (else the command's own credentials sign).
    fn admin_client(
        &self,
        args: &AdminArgs,
        sources: &Sources<'_>,
    ) -> Result<Option<api::CliClient>, CliError> {
        let Some(name) = self.admin_profile else {
            return Ok(None);
        };
        let identity =
            Sources::load(Some(name), sources.env)?.identity(&CredentialArgs::default())?;
        api::client(&identity, &args.endpoint.net, true).map(Some)
    }

    /// Refuses to start unless the profile's key belongs to the principal.
    async fn ensure_owned(&self, admin: &Api<'_>, old_id: &str) -> Result<(), CliError> {
        let keys = list_keys(admin, Some(self.principal)).await?;
        if keys.iter().any(|k| text(k, "access_key_id") == old_id) {
            return Ok(());
        }
        Err(CliError::RotationAborted {
            old: old_id.to_owned(),
            reason: format!(
                "it is not a key of principal `{}`; nothing was changed",
                self.principal
            ),
        })
    }

    /// Writes the new key into the profile, then checks it with a signed whoami that must name
    /// the new key and the principal.
    async fn switch_and_check(
        &self,
        target: &Profile,
        created: &Value,
        new_api: &Api<'_>,
    ) -> Result<(), String> {
        let new_id = text(created, "access_key_id");
        let mut values = target.values.clone();
        values.insert("access_key_id".into(), new_id.clone());
        values.insert(
            "secret_access_key".into(),
            text(created, "secret_access_key"),
        );
        values.remove("session_token");
        configure::save(target, &values).map_err(|e| e.one_line())?;
        let who = new_api
            .call("GET", "/v1/whoami", None)
            .await
            .map_err(|e| format!("the new key did not verify: {}", e.one_line()))?;
        if text(&who, "access_key_id") != new_id || text(&who, "principal") != self.principal {
            return Err(format!("whoami with the new key answered {who}"));
        }
        Ok(())
    }

    /// Disables (and with `--delete-old` deletes) the old key; returns both keys' rows.
    async fn retire(&self, api: &Api<'_>, old_id: &str, new_id: &str) -> Result<Printed, CliError> {
        let mut old_row = set_status(api, old_id, "Inactive").await?;
        if self.delete_old {
            api.call("DELETE", &format!("/v1/keys/{}", segment(old_id)), None)
                .await?;
            old_row =
                json!({"access_key_id": old_id, "principal": self.principal, "status": "deleted"});
        }
        let new_row = list_keys(api, Some(self.principal))
            .await?
            .into_iter()
            .find(|k| text(k, "access_key_id") == new_id)
            .unwrap_or(json!({"access_key_id": new_id, "status": "Active"}));
        Ok(Printed {
            columns: &KEY_COLUMNS,
            rows: vec![old_row, new_row],
        })
    }

    /// Puts the credentials file back as it was and deletes the new key (best effort;
    /// failures are named in the error).
    async fn roll_back(
        &self,
        admin: &Api<'_>,
        target: &Profile,
        original: &[u8],
        old: String,
        new_id: &str,
        reason: String,
    ) -> CliError {
        let mut notes = vec![reason];
        match crate::profile::write_private(&target.path, original) {
            Ok(()) => notes.push(format!("profile `{}` restored", target.name)),
            Err(err) => notes.push(format!(
                "could not restore {}: {err}",
                target.path.display()
            )),
        }
        match admin
            .call("DELETE", &format!("/v1/keys/{}", segment(new_id)), None)
            .await
        {
            Ok(_) => notes.push(format!("new key {new_id} deleted")),
            Err(err) => notes.push(format!("new key {new_id} not deleted: {}", err.one_line())),
        }
        CliError::RotationAborted {
            old,
            reason: notes.join("; "),
        }
    }
}

fn existing_section(sources: &Sources<'_>, name: &str) -> BTreeMap<String, String> {
    std::fs::read_to_string(&sources.profile.path)
        .ok()
        .and_then(|text| crate::profile::section(&text, name))
        .unwrap_or_default()
}

fn array(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// JSON (one value: the object, or an array for several rows) or an aligned table.
fn print(out: &mut dyn Write, printed: &Printed, json: bool) -> Result<(), CliError> {
    if json {
        let value = match printed.rows.as_slice() {
            [one] => one.clone(),
            rows => Value::Array(rows.to_vec()),
        };
        writeln!(out, "{value}")?;
        return Ok(());
    }
    write!(out, "{}", table(printed))?;
    Ok(())
}

fn table(printed: &Printed) -> String {
    let cells: Vec<Vec<String>> = printed
        .rows
        .iter()
        .map(|row| printed.columns.iter().map(|c| text(row, c)).collect())
        .collect();
    let widths: Vec<usize> = printed
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |values: Vec<String>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(printed.columns.iter().map(|c| c.to_uppercase()).collect());
    for row in cells {
        line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_show_missing_values_empty() {
        let printed = Printed {
            columns: &["name", "admin"],
            rows: vec![
                json!({"name": "alice", "admin": true}),
                json!({"name": "b"}),
            ],
        };
        assert_eq!(table(&printed), "NAME   ADMIN\nalice  true\nb\n");
    }
}
