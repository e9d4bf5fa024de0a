//! `countersign configure`: write a profile to the credentials file (mode 0600).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::cli::ConfigureArgs;
use crate::config::Profile;
use crate::error::CliError;
use crate::profile;

/// Writes `profile` with the flags' values; on a terminal, prompts for the rest (secrets
/// without echo; Enter keeps the current value). Off a terminal, a missing secret is read from
/// the first line of stdin.
///
/// # Errors
/// [`CliError::Configure`] when no access key id or secret is given, or the file cannot be
/// written.
pub fn run(
    args: &ConfigureArgs,
    target: &Profile,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let mut values = target.values.clone();
    let given = [
        ("access_key_id", &args.access_key_id),
        ("secret_access_key", &args.secret_access_key),
        ("session_token", &args.session_token),
        ("region", &args.region),
        ("service", &args.service),
        ("endpoint", &args.endpoint),
    ];
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    for (key, flag) in given {
        if let Some(value) = flag {
            values.insert(key.to_owned(), value.clone());
        } else if interactive {
            prompt(&mut values, key)?;
        } else if key == "secret_access_key" && !values.contains_key(key) {
            read_secret_line(&mut values)?;
        }
    }
    values.retain(|_, v| !v.is_empty());
    for required in ["access_key_id", "secret_access_key"] {
        if !values.contains_key(required) {
            return Err(CliError::Configure(format!(
                "no {}: pass --{} (or run on a terminal to be prompted)",
                required.replace('_', " "),
                required.replace('_', "-")
            )));
        }
    }
    save(target, &values)?;
    writeln!(
        out,
        "profile `{}` written to {}",
        target.name,
        target.path.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Replaces `target`'s section with `values` in its file (mode 0600).
///
/// # Errors
/// [`CliError::Configure`] when the file cannot be read or written.
pub fn save(target: &Profile, values: &BTreeMap<String, String>) -> Result<(), CliError> {
    let fail = |err: std::io::Error| {
        CliError::Configure(format!("cannot write {}: {err}", target.path.display()))
    };
    let text = match std::fs::read_to_string(&target.path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(fail(err)),
    };
    let text = profile::with_section(&text, &target.name, values);
    profile::write_private(&target.path, text.as_bytes()).map_err(fail)
}

fn prompt(values: &mut BTreeMap<String, String>, key: &str) -> Result<(), CliError> {
    let secret = key == "secret_access_key" || key == "session_token";
    let current = match values.get(key) {
        Some(_) if secret => " [keep current]".to_owned(),
        Some(v) => format!(" [{v}]"),
        None => String::new(),
    };
    let label = format!("{}{current}: ", key.replace('_', " "));
    let fail = |err: std::io::Error| CliError::Configure(format!("cannot read {key}: {err}"));
    let answer = if secret {
        rpassword::prompt_password(label).map_err(fail)?
    } else {
        eprint!("{label}");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(fail)?;
        line
    };
    let answer = answer.trim();
    if !answer.is_empty() {
        values.insert(key.to_owned(), answer.to_owned());
    }
    Ok(())
}

fn read_secret_line(values: &mut BTreeMap<String, String>) -> Result<(), CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| CliError::Configure(format!("cannot read the secret from stdin: {err}")))?;
    let secret = line.trim();
    if !secret.is_empty() {
        values.insert("secret_access_key".to_owned(), secret.to_owned());
    }
    Ok(())
}
